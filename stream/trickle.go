package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/pion/ice/v2"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
)

// Trickle ICE and ICE restarts (RFC 9725 section 4.3): a PATCH on a WHIP or
// WHEP session carries an application/trickle-ice-sdpfrag body (RFC 8840).
// With the session's ICE credentials (or none) it adds the client's
// candidates: 204. With new credentials it restarts ICE: the server makes
// new credentials of its own and answers 200 with them and its candidates,
// and the session, its tracks and its PeerConnection stay. Each ICE
// session has a strong entity-tag, sent as ETag with the 201 and with a
// restart's 200; a PATCH whose If-Match names another is answered 412.

// SDPFragType is the media type of a trickle ICE PATCH (RFC 8840).
const SDPFragType = "application/trickle-ice-sdpfrag"

// MaxSDPFrag bounds the body of a trickle ICE PATCH.
const MaxSDPFrag = 16 << 10

// maxOldUfrags is how many credentials of earlier ICE sessions a session
// remembers, to refuse late trickles for them rather than restart.
const maxOldUfrags = 8

// iceSession is the ICE side of a WHIP or WHEP session, which PATCH
// changes. Its lock serializes the PATCHes of one session: a restart
// waits for local candidates (host candidates on the UDP mux, at once)
// while it holds it, and never for the network.
type iceSession struct {
	mu   sync.Mutex
	etag string   // the current ICE session's entity-tag, quoted
	old  []string // remote ufrags of earlier ICE sessions
}

func newICESession() *iceSession { return &iceSession{etag: newETag()} }

// ETag returns the entity-tag of the current ICE session.
func (i *iceSession) ETag() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.etag
}

func newETag() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return `"` + hex.EncodeToString(b[:]) + `"`
}

// matches reports whether the If-Match header fields of a request allow it
// on the ICE session tagged etag: none (clients that do not send it), "*",
// or a list holding etag (strong comparison: a weak tag never matches).
func matches(ifMatch []string, etag string) bool {
	if len(ifMatch) == 0 {
		return true
	}
	for _, field := range ifMatch {
		for t := range strings.SplitSeq(field, ",") {
			if t = strings.TrimSpace(t); t == "*" || t == etag {
				return true
			}
		}
	}
	return false
}

// sdpFrag is a parsed application/trickle-ice-sdpfrag body.
type sdpFrag struct {
	ufrag, pwd string
	cands      []fragCandidate
	end        bool // a=end-of-candidates
}

// fragCandidate is one a=candidate line of a fragment, with the media
// section it came in.
type fragCandidate struct {
	value string // "candidate:..."
	ufrag string // the candidate's ufrag extension, if any
	mid   string
	mline uint16
}

// fragError is the 400 answering a fragment that cannot be used.
func fragError(format string, args ...any) error {
	return api.Errorf(api.BadRequest, "not a usable trickle-ice-sdpfrag: "+format, args...)
}

// parseSDPFrag parses a trickle-ice-sdpfrag body (RFC 8840 section 9.2).
// Attributes other than ICE credentials, candidates, mids and
// end-of-candidates are ignored; a line that is not an SDP line, invalid
// credentials or a candidate that does not parse make the fragment
// unusable.
func parseSDPFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	mline, mid := -1, ""
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimRight(line, "\r \t")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return sdpFrag{}, fragError("line %q is not an SDP line", clip(line))
		}
		if line[0] == 'm' {
			mline++
			mid = ""
			continue
		}
		if line[0] != 'a' {
			continue
		}
		key, value, _ := strings.Cut(line[2:], ":")
		switch key {
		case "ice-ufrag", "ice-pwd":
			least, dst := 4, &f.ufrag
			if key == "ice-pwd" {
				least, dst = 22, &f.pwd
			}
			if !iceChars(value, least) {
				return sdpFrag{}, fragError("a=%s must be %d to 256 ICE characters", key, least)
			}
			if *dst != "" && *dst != value {
				return sdpFrag{}, fragError("two different a=%s", key)
			}
			*dst = value
		case "mid":
			mid = value
		case "candidate":
			_, err := ice.UnmarshalCandidate(value)
			switch {
			case errors.Is(err, ice.ErrUnknownCandidateTyp), errors.Is(err, ice.ErrDetermineNetworkType):
				continue // a kind this relay does not use, as pion itself skips it
			case err != nil:
				return sdpFrag{}, fragError("a=candidate:%s: %v", clip(value), err)
			}
			f.cands = append(f.cands, fragCandidate{value: "candidate:" + value, ufrag: candidateUfrag(value),
				mid: mid, mline: uint16(max(mline, 0))})
		case "end-of-candidates":
			f.end = true
		}
	}
	if f.ufrag == "" && f.pwd == "" && len(f.cands) == 0 && !f.end {
		return sdpFrag{}, fragError("the fragment carries neither ICE credentials nor candidates")
	}
	return f, nil
}

// iceChars reports whether s is least to 256 ice-chars (RFC 8839: ALPHA,
// DIGIT, "+", "/").
func iceChars(s string, least int) bool {
	if len(s) < least || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// candidateUfrag returns the value of a candidate's "ufrag" extension
// attribute (after "typ"), or "".
func candidateUfrag(value string) string {
	f := strings.Fields(value)
	for i := 8; i+1 < len(f); i += 2 {
		if f[i] == "ufrag" {
			return f[i+1]
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// readSDPFrag reads a PATCH body: 415 for another Content-Type, 413 over
// MaxSDPFrag, 400 when it is not a usable fragment.
func readSDPFrag(w http.ResponseWriter, r *http.Request) (sdpFrag, error) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != SDPFragType {
		return sdpFrag{}, api.Errorf(api.UnsupportedMediaType, "Content-Type must be %s, not %q", SDPFragType, ct)
	}
	b, err := api.ReadBody(w, r, MaxSDPFrag)
	if err != nil {
		return sdpFrag{}, err
	}
	return parseSDPFrag(string(b))
}

// parseSDP parses a session description.
func parseSDP(raw string) (*sdp.SessionDescription, error) {
	d := &sdp.SessionDescription{}
	if err := d.UnmarshalString(raw); err != nil {
		return nil, err
	}
	return d, nil
}

// iceCreds returns the ICE credentials of a description: the first media
// section's, or the session's.
func iceCreds(d *sdp.SessionDescription) (ufrag, pwd string) {
	ufrag, _ = d.Attribute("ice-ufrag")
	pwd, _ = d.Attribute("ice-pwd")
	for _, m := range d.MediaDescriptions {
		if u, ok := m.Attribute("ice-ufrag"); ok {
			ufrag = u
		}
		if p, ok := m.Attribute("ice-pwd"); ok {
			pwd = p
		}
		break
	}
	return ufrag, pwd
}

// withICE returns the description raw with the ICE credentials ufrag and
// pwd in place of its own, without candidates, and its version one up: the
// offer an ICE restart applies.
func withICE(raw, ufrag, pwd string) (string, error) {
	d, err := parseSDP(raw)
	if err != nil {
		return "", err
	}
	replace := func(attrs []sdp.Attribute) []sdp.Attribute {
		out := attrs[:0]
		for _, a := range attrs {
			switch a.Key {
			case "candidate", "end-of-candidates":
				continue
			case "ice-ufrag":
				a.Value = ufrag
			case "ice-pwd":
				a.Value = pwd
			}
			out = append(out, a)
		}
		return out
	}
	d.Attributes = replace(d.Attributes)
	for _, m := range d.MediaDescriptions {
		m.Attributes = replace(m.Attributes)
	}
	d.Origin.SessionVersion++
	b, err := d.Marshal()
	return string(b), err
}

// fragOf returns the trickle-ice-sdpfrag of a description: its ICE
// credentials, and the candidates of its first media section (all media
// are bundled) with end-of-candidates.
func fragOf(raw string) (string, error) {
	d, err := parseSDP(raw)
	if err != nil {
		return "", err
	}
	ufrag, pwd := iceCreds(d)
	var b strings.Builder
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", ufrag, pwd)
	if len(d.MediaDescriptions) > 0 {
		m := d.MediaDescriptions[0]
		fmt.Fprintf(&b, "m=%s 9 %s %s\r\n", m.MediaName.Media, strings.Join(m.MediaName.Protos, "/"), strings.Join(m.MediaName.Formats, " "))
		if mid, ok := m.Attribute("mid"); ok {
			fmt.Fprintf(&b, "a=mid:%s\r\n", mid)
		}
		for _, a := range m.Attributes {
			if a.Key == "candidate" {
				fmt.Fprintf(&b, "a=candidate:%s\r\n", a.Value)
			}
		}
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String(), nil
}

// iceTarget is the session a PATCH applies to.
type iceTarget struct {
	role, stream, session string
	pc                    *webrtc.PeerConnection
	ice                   *iceSession
}

// patchICE answers a PATCH on t: a trickle (204) or an ICE restart (200
// with the new credentials and a new ETag).
func (s *Service) patchICE(w http.ResponseWriter, r *http.Request, t iceTarget) {
	frag, err := readSDPFrag(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t.ice.mu.Lock()
	defer t.ice.mu.Unlock()
	if !matches(r.Header.Values("If-Match"), t.ice.etag) {
		s.fail(w, r, api.New(api.PreconditionFailed, "If-Match does not name the session's current ICE session (its ETag)"))
		return
	}
	cur := t.pc.RemoteDescription()
	if cur == nil {
		s.fail(w, r, api.New(api.NotFound, "the session is gone"))
		return
	}
	// Parsed from a copy: the description's own Unmarshal caches its
	// result in pion's object, which pion reads on its goroutines.
	parsed, err := parseSDP(cur.SDP)
	if err != nil {
		s.fail(w, r, fmt.Errorf("stream: the session's remote description: %w", err))
		return
	}
	ufrag, pwd := iceCreds(parsed)
	switch {
	case frag.ufrag == "" && frag.pwd == "", frag.ufrag == ufrag && (frag.pwd == "" || frag.pwd == pwd):
		if err := s.trickle(t, frag, ufrag); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case slices.Contains(t.ice.old, frag.ufrag):
		s.fail(w, r, api.New(api.PreconditionFailed, "the fragment is for an earlier ICE session of this session"))
	case frag.ufrag == "" || frag.pwd == "":
		s.fail(w, r, fragError("an ICE restart needs both a=ice-ufrag and a=ice-pwd"))
	default:
		body, err := s.restartICE(r.Context(), t, cur.SDP, frag)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		t.ice.old = append(t.ice.old, ufrag)
		if len(t.ice.old) > maxOldUfrags {
			t.ice.old = t.ice.old[1:]
		}
		t.ice.etag = newETag()
		h := w.Header()
		h.Set("Content-Type", SDPFragType)
		h.Set("ETag", t.ice.etag)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(body))
	}
}

// trickle adds the fragment's candidates to t's ICE session, whose remote
// ufrag is ufrag. Candidates marked with another ufrag are for another ICE
// session and are skipped.
func (s *Service) trickle(t iceTarget, frag sdpFrag, ufrag string) error {
	added := 0
	for _, c := range frag.cands {
		if c.ufrag != "" && c.ufrag != ufrag {
			continue
		}
		mid, mline := c.mid, c.mline
		if err := t.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.value, SDPMid: &mid, SDPMLineIndex: &mline}); err != nil {
			return api.Errorf(api.BadRequest, "the candidate %q was refused: %v", clip(c.value), err)
		}
		added++
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("stream: remote candidate trickled", "stream", t.stream, "session", t.session, "role", t.role, "candidate", c.value)
		}
	}
	s.log.Debug("stream: trickle ICE", "stream", t.stream, "session", t.session, "role", t.role,
		"candidates", added, "end", frag.end)
	return nil
}

// restartICE restarts the ICE session of t with the client's new
// credentials: the current remote offer with them applied again (pion
// restarts its ICE agent when the remote credentials of an offer change),
// the fragment's candidates added, and a new answer made. It returns the
// fragment of the answer: the server's new credentials and candidates.
func (s *Service) restartICE(ctx context.Context, t iceTarget, current string, frag sdpFrag) (string, error) {
	offer, err := withICE(current, frag.ufrag, frag.pwd)
	if err != nil {
		return "", fmt.Errorf("stream: rewriting the remote description: %w", err)
	}
	if err := t.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		if t.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
			return "", api.New(api.NotFound, "the session is gone")
		}
		return "", api.Errorf(api.Conflict, "the ICE restart failed: %v", err)
	}
	if err := s.trickle(t, frag, frag.ufrag); err != nil {
		return "", err
	}
	answer, err := s.answer(ctx, t.pc)
	if err != nil {
		return "", err
	}
	s.log.Info("stream: ICE restart", "stream", t.stream, "session", t.session, "role", t.role)
	return fragOf(answer)
}
