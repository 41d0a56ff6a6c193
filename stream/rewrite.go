package stream

// rewriter maps the sequence numbers and timestamps of successive publisher
// sessions onto one continuous outbound stream, so that a viewer's decoder
// never sees a publisher reconnect: the first packet of a new session
// follows the last packet of the previous one (sequence number + 1,
// timestamp advanced by the wall time in between).
//
// Outbound sequence numbers are kept extended to 64 bits (ext) so that the
// packet cache can tell a packet from one 65536 packets older.
//
// A rewriter is not safe for concurrent use; a track's ingest lock guards it.
type rewriter struct {
	clockRate uint32
	// minStep is the smallest timestamp advance at a session change: one
	// frame at 30 fps for video, 20 ms for audio.
	minStep uint32

	started    bool   // any packet was ever written
	lastOutExt uint64 // highest outbound ext written
	lastOutTS  uint32 // timestamp of that packet
	lastAt     int64  // when it arrived (Unix ns)

	// the current session
	inSession  bool
	inMaxExt   uint64 // highest inbound ext of this session
	seqOffset  uint64 // out ext = in ext + seqOffset
	tsOffset   uint32 // out ts = in ts + tsOffset
	sessionMin uint64 // lowest outbound ext this session may write
}

// extBase keeps extended sequence numbers far from zero so that packets
// slightly older than the first one of a session do not underflow.
const extBase = 1 << 32

func newRewriter(clockRate uint32, video bool) *rewriter {
	r := &rewriter{clockRate: clockRate}
	if video {
		r.minStep = clockRate / 30
	} else {
		r.minStep = clockRate / 50
	}
	if r.minStep == 0 {
		r.minStep = 1
	}
	return r
}

// newSession makes the next packet start a new publisher session.
func (r *rewriter) newSession() { r.inSession = false }

// rewrite maps an inbound packet. ok is false for a packet that belongs
// before the session's first packet (it would collide with the previous
// session's numbers). lost is how many packets the publisher skipped
// before this one (0 for in-order and late packets).
func (r *rewriter) rewrite(seq uint16, ts uint32, now int64) (ext uint64, outTS uint32, lost uint64, ok bool) {
	if !r.inSession {
		inExt := uint64(extBase) + uint64(seq)
		r.inSession = true
		r.inMaxExt = inExt
		if !r.started {
			r.seqOffset = 0
			r.tsOffset = 0
		} else {
			r.seqOffset = r.lastOutExt + 1 - inExt
			step := r.minStep
			if d := now - r.lastAt; d > 0 {
				if ticks := uint64(d) * uint64(r.clockRate) / 1e9; ticks > uint64(step) {
					step = uint32(ticks)
				}
			}
			r.tsOffset = r.lastOutTS + step - ts
		}
		r.sessionMin = inExt + r.seqOffset
	}
	// Unwrap seq against the highest inbound ext seen this session.
	inExt := r.inMaxExt + uint64(int64(int16(seq-uint16(r.inMaxExt))))
	if inExt > r.inMaxExt {
		lost = inExt - r.inMaxExt - 1
		r.inMaxExt = inExt
	}
	ext = inExt + r.seqOffset
	if ext < r.sessionMin {
		return 0, 0, 0, false
	}
	outTS = ts + r.tsOffset
	if !r.started || ext > r.lastOutExt {
		r.started = true
		r.lastOutExt = ext
		r.lastOutTS = outTS
		r.lastAt = now
	}
	return ext, outTS, lost, true
}
