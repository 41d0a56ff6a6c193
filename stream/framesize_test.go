package stream

import (
	"bytes"
	"encoding/hex"
	"math/bits"
	"slices"
	"strings"
	"testing"
)

// sizeCase is one payload and the size frameSize must read from it; w and
// h are zero where frameSize must refuse the payload.
type sizeCase struct {
	name string
	kind codecKind
	p    []byte
	w, h int
}

// fromHex decodes hex digits, ignoring spaces.
func fromHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Real SPS NAL units (header byte included) written by x264 through
// ffmpeg's libx264 from a lavfi testsrc; ffprobe confirmed each size.
var (
	spsBaseline720 = fromHex("67 42 c0 1f d9 00 50 05 bb 01 10 00 00 03 00 10 00 00 03 03 20 f1 83 24 80")
	spsHigh1080    = fromHex("67 64 00 28 ac d9 40 78 02 27 e5 c0 44 00 00 03 00 04 00 00 03 00 c8 3c 60 c6 58")
	spsMain360     = fromHex("67 4d 40 1e ec a0 50 17 fc b8 08 80 00 00 03 00 80 00 00 19 07 8b 16 cb")
	spsField1080   = fromHex("67 64 00 28 ac d9 40 78 04 4f de 02 20 00 00 03 00 20 00 00 06 43 e2 c5 b2 c0")
	spsHigh422     = fromHex("67 7a 00 1f bc d9 40 d8 3f e6 8f c0 44 00 00 03 00 04 00 00 03 00 c8 3c 60 c6 58")
	spsHigh444     = fromHex("67 f4 00 1f 91 9b 28 1f 82 4f 15 08 60 22 00 00 03 00 02 00 00 03 00 64 1e 30 63 2c")
	spsGray        = fromHex("67 64 00 1e f3 65 02 90 bf 8f 9f 01 6c 80 00 00 03 00 80 00 00 19 07 8b 16 cb")
	spsHigh10      = fromHex("67 6e 00 1f a6 cd 94 05 00 5b b0 11 00 00 03 00 01 00 00 03 00 32 0f 18 31 96")
	ppsBaseline720 = fromHex("68 cb 83 cb 20")
)

// The first bytes of real VP8 frames written by libvpx through ffmpeg: a
// key frame and the inter frame after it, at two sizes.
var (
	vp8Key320   = fromHex("30 51 00 9d 01 2a 40 01 b4 00 00 47 08 85 85 88")
	vp8Inter320 = fromHex("b1 06 00 15 10 ac 00 18 09 8f f6 fd 48 35 9f 9c")
	vp8Key1280  = fromHex("90 77 01 9d 01 2a 00 05 d0 02 00 07 08 85 85 88")
)

// cat joins byte slices into a new one.
func cat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// stapA aggregates NAL units into a STAP-A payload (RFC 6184 §5.7.1).
func stapA(nalus ...[]byte) []byte {
	p := []byte{0x78}
	for _, n := range nalus {
		p = append(p, byte(len(n)>>8), byte(len(n)))
		p = append(p, n...)
	}
	return p
}

// fuA returns the FU-A fragment of a NAL unit from its payload byte off
// to end, with the start bit set when off is 1 (RFC 6184 §5.8).
func fuA(nalu []byte, off, end int) []byte {
	header := nalu[0] & 0x1f
	if off == 1 {
		header |= 0x80
	}
	return cat([]byte{nalu[0]&0xe0 | 28, header}, nalu[off:end])
}

// spsWriter writes an SPS bit by bit for the tests.
type spsWriter struct {
	bits []byte // One entry, 0 or 1, per bit.
	// sizeAt is the bit at which pic_width_in_mbs_minus1 starts.
	sizeAt int
	// firstEPB is the RBSP byte before which the first emulation
	// prevention byte went, or -1.
	firstEPB int
}

func (w *spsWriter) u(n int, v uint64) {
	for i := n - 1; i >= 0; i-- {
		w.bits = append(w.bits, byte(v>>i&1))
	}
}

func (w *spsWriter) flag(b bool) {
	if b {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

func (w *spsWriter) ue(v uint64) {
	n := bits.Len64(v + 1)
	w.u(n-1, 0)
	w.u(n, v+1)
}

func (w *spsWriter) se(v int64) {
	if v > 0 {
		w.ue(uint64(2*v - 1))
	} else {
		w.ue(uint64(-2 * v))
	}
}

// nal ends the RBSP with its stop bit and alignment, inserts the
// emulation prevention bytes and prepends the NAL unit header.
func (w *spsWriter) nal() []byte {
	w.u(1, 1)
	for len(w.bits)%8 != 0 {
		w.u(1, 0)
	}
	out := []byte{0x67}
	w.firstEPB = -1
	zeros := 0
	for i := 0; i < len(w.bits); i += 8 {
		var c byte
		for _, b := range w.bits[i : i+8] {
			c = c<<1 | b
		}
		if zeros >= 2 && c <= 3 {
			out = append(out, 0x03)
			zeros = 0
			if w.firstEPB < 0 {
				w.firstEPB = i / 8
			}
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// highProfileIDs are the profile_idc values whose SPS carry
// chroma_format_idc, as listed in H.264 §7.3.2.1.1.
var highProfileIDs = []uint64{100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}

// spsSpec lists the SPS fields the synthetic test vectors vary.
type spsSpec struct {
	id      uint64
	profile uint64
	// chroma, separate, depth and lists are written for high profiles
	// only. lists holds the delta_scale values of each scaling list, nil
	// for a list that is not present; no lists means no matrix.
	chroma   uint64
	separate bool
	depth    uint64
	lists    [][]int64
	frameNum uint64 // log2_max_frame_num_minus4
	pocType  uint64
	pocLSB   uint64 // log2_max_pic_order_cnt_lsb_minus4 for type 0
	// pocOffsets are, for pic_order_cnt_type 1, offset_for_non_ref_pic,
	// offset_for_top_to_bottom_field and the offsets of the cycle.
	pocOffsets []int64
	wMbs       uint64
	hMaps      uint64
	interlaced bool
	crop       []uint64 // Left, right, top and bottom, or none.
}

// build writes the SPS NAL unit the spec describes.
func (s spsSpec) build() (*spsWriter, []byte) {
	w := &spsWriter{}
	w.u(8, s.profile)
	w.u(8, 0)  // Constraint flags and reserved bits.
	w.u(8, 40) // level_idc
	w.ue(s.id)
	if slices.Contains(highProfileIDs, s.profile) {
		s.writeHigh(w)
	}
	w.ue(s.frameNum)
	s.writePOC(w)
	w.ue(1)       // max_num_ref_frames
	w.flag(false) // gaps_in_frame_num_value_allowed_flag
	w.sizeAt = len(w.bits)
	w.ue(s.wMbs - 1)
	w.ue(s.hMaps - 1)
	w.flag(!s.interlaced)
	if s.interlaced {
		w.flag(true) // mb_adaptive_frame_field_flag
	}
	w.flag(true) // direct_8x8_inference_flag
	w.flag(len(s.crop) == 4)
	for _, c := range s.crop {
		w.ue(c)
	}
	w.flag(false) // vui_parameters_present_flag
	return w, w.nal()
}

func (s spsSpec) writeHigh(w *spsWriter) {
	w.ue(s.chroma)
	if s.chroma == 3 {
		w.flag(s.separate)
	}
	w.ue(s.depth)
	w.ue(s.depth)
	w.flag(false) // qpprime_y_zero_transform_bypass_flag
	w.flag(len(s.lists) > 0)
	for _, l := range s.lists {
		w.flag(l != nil)
		for _, d := range l {
			w.se(d)
		}
	}
}

func (s spsSpec) writePOC(w *spsWriter) {
	w.ue(s.pocType)
	switch s.pocType {
	case 0:
		w.ue(s.pocLSB)
	case 1:
		w.flag(false) // delta_pic_order_always_zero_flag
		w.se(s.pocOffsets[0])
		w.se(s.pocOffsets[1])
		w.ue(uint64(len(s.pocOffsets) - 2))
		for _, o := range s.pocOffsets[2:] {
			w.se(o)
		}
	}
}

// sps builds the spec's SPS NAL unit.
func (s spsSpec) sps() []byte {
	_, b := s.build()
	return b
}

// fullList returns size delta_scale values that change the scale at
// every step and never reach zero.
func fullList(size int) []int64 {
	d := make([]int64, size)
	for i := range d {
		d[i] = int64(i%7) - 2 // Scales climb from 8 to about 100.
		if i%7 == 2 {
			d[i] = 3
		}
	}
	return d
}

// Scaling lists that end early: one that asks for the default matrix and
// one whose last explicit scale repeats to the end.
var (
	useDefault = []int64{-8}
	repeatTail = []int64{3, 2, -13}
)

// scalingLists returns n scaling lists, every one present and each kind
// of list at least once.
func scalingLists(n int) [][]int64 {
	l := make([][]int64, n)
	for i := range l {
		size := 64
		if i < 6 {
			size = 16
		}
		switch i % 4 {
		case 0:
			l[i] = fullList(size)
		case 1:
			l[i] = useDefault
		case 2:
			l[i] = repeatTail
		case 3:
			l[i] = nil
		}
	}
	l[6] = fullList(64)
	return l
}

// epbSpec puts two offsets of 32768 before the picture size: their codes
// make a run of 32 zero bits, which needs emulation prevention bytes.
var epbSpec = spsSpec{profile: 66, pocType: 1, pocOffsets: []int64{32768, 32768, -1, 2},
	wMbs: 40, hMaps: 23, crop: []uint64{0, 0, 0, 4}}

// syntheticSPS are SPS the bit writer builds, for the fields the real
// vectors leave out; ffmpeg's trace_headers filter parsed each the same.
var syntheticSPS = []sizeCase{
	{"poc type 1 cycle", codecH264, spsSpec{profile: 66, pocType: 1, pocOffsets: []int64{-2, 1, 4, -4, 7}, wMbs: 80, hMaps: 45}.sps(), 1280, 720},
	{"poc type 2 cropped left and top", codecH264, spsSpec{profile: 77, pocType: 2, wMbs: 40, hMaps: 23, crop: []uint64{3, 1, 2, 2}}.sps(), 632, 360},
	{"high scaling matrix 8 lists", codecH264, spsSpec{profile: 100, chroma: 1, lists: scalingLists(8), wMbs: 120, hMaps: 68, crop: []uint64{0, 0, 0, 4}}.sps(), 1920, 1080},
	{"high 4:4:4 scaling matrix 12 lists", codecH264, spsSpec{profile: 244, chroma: 3, lists: scalingLists(12), wMbs: 63, hMaps: 36, crop: []uint64{0, 9, 0, 15}}.sps(), 999, 561},
	{"separate colour planes 12 lists", codecH264, spsSpec{profile: 244, chroma: 3, separate: true, lists: scalingLists(12), wMbs: 63, hMaps: 36, crop: []uint64{0, 9, 0, 15}}.sps(), 999, 561},
	{"high 4:2:2 10 bit interlaced", codecH264, spsSpec{profile: 122, chroma: 2, depth: 2, wMbs: 120, hMaps: 34, interlaced: true, crop: []uint64{1, 0, 0, 4}}.sps(), 1918, 1080},
	{"monochrome interlaced", codecH264, spsSpec{profile: 100, chroma: 0, wMbs: 45, hMaps: 18, interlaced: true, crop: []uint64{0, 0, 0, 3}}.sps(), 720, 570},
	{"scalable high profile 83", codecH264, spsSpec{profile: 83, chroma: 1, lists: scalingLists(8), wMbs: 20, hMaps: 15}.sps(), 320, 240},
	{"emulation prevention before the size", codecH264, epbSpec.sps(), 640, 360},
	{"largest size", codecH264, spsSpec{profile: 66, pocType: 2, wMbs: 1024, hMaps: 1024}.sps(), 16384, 16384},
}

// validCases are the payloads frameSize must read a size from.
func validCases() []sizeCase {
	cases := []sizeCase{
		{"x264 constrained baseline 1280x720", codecH264, spsBaseline720, 1280, 720},
		{"x264 high 1920x1080 cropped from 1088", codecH264, spsHigh1080, 1920, 1080},
		{"x264 main 640x360", codecH264, spsMain360, 640, 360},
		{"x264 high interlaced 1920x1080", codecH264, spsField1080, 1920, 1080},
		{"x264 high 4:2:2 854x482", codecH264, spsHigh422, 854, 482},
		{"x264 high 4:4:4 999x561", codecH264, spsHigh444, 999, 561},
		{"x264 high monochrome 642x362", codecH264, spsGray, 642, 362},
		{"x264 high 10 1280x720", codecH264, spsHigh10, 1280, 720},
		{"STAP-A SPS then PPS", codecH264, stapA(spsBaseline720, ppsBaseline720), 1280, 720},
		{"STAP-A PPS then SPS", codecH264, stapA(ppsBaseline720, spsHigh1080), 1920, 1080},
		{"FU-A first fragment", codecH264, fuA(spsMain360, 1, len(spsMain360)), 640, 360},
		{"VP8 no extension", codecVP8, cat([]byte{0x10}, vp8Key320), 320, 180},
		{"VP8 X without fields", codecVP8, cat([]byte{0x90, 0x00}, vp8Key1280), 1280, 720},
		{"VP8 7-bit picture id", codecVP8, cat([]byte{0x90, 0x80, 0x12}, vp8Key320), 320, 180},
		{"VP8 15-bit picture id", codecVP8, cat([]byte{0x90, 0x80, 0x81, 0x23}, vp8Key1280), 1280, 720},
		{"VP8 I L T K 15-bit", codecVP8, cat([]byte{0x90, 0xf0, 0xab, 0xcd, 0x05, 0x65}, vp8Key1280), 1280, 720},
		{"VP8 I L T K 7-bit", codecVP8, cat([]byte{0x90, 0xf0, 0x7f, 0x05, 0x40}, vp8Key320), 320, 180},
		{"VP8 L and K only", codecVP8, cat([]byte{0x90, 0x50, 0x05, 0x1f}, vp8Key320), 320, 180},
		{"VP8 upscaling bits ignored", codecVP8, cat([]byte{0x10}, scaledVP8()), 320, 180},
	}
	return append(cases, syntheticSPS...)
}

// scaledVP8 is the 320x180 key frame with both upscaling modes set.
func scaledVP8() []byte {
	f := bytes.Clone(vp8Key320)
	f[7] |= 0xc0
	f[9] |= 0x40
	return f
}

// firstList returns eight scaling lists of which only the first is
// present, with the given deltas. The deltas used with it would end the
// list, scale 129-129 or 128+128 making zero, if they were in range.
func firstList(deltas ...int64) [][]int64 {
	l := make([][]int64, 8)
	l[0] = deltas
	return l
}

// invalidCases are payloads frameSize must refuse.
func invalidCases() []sizeCase {
	base := spsSpec{profile: 100, chroma: 1, wMbs: 80, hMaps: 45}
	with := func(f func(*spsSpec)) []byte {
		s := base
		f(&s)
		return s.sps()
	}
	return []sizeCase{
		{name: "empty H264", kind: codecH264},
		{name: "empty VP8", kind: codecVP8},
		{name: "VP8 inter frame", kind: codecVP8, p: cat([]byte{0x10}, vp8Inter320)},
		{name: "VP8 key frame header with P set", kind: codecVP8, p: cat([]byte{0x10, vp8Key320[0] | 1}, vp8Key320[1:])},
		{name: "VP8 not a partition start", kind: codecVP8, p: cat([]byte{0x00}, vp8Key320)},
		{name: "VP8 partition 1", kind: codecVP8, p: cat([]byte{0x11}, vp8Key320)},
		{name: "VP8 bad start code", kind: codecVP8, p: cat([]byte{0x10}, vp8Key320[:3], []byte{0x9d, 0x01, 0x2b}, vp8Key320[6:])},
		{name: "VP8 zero width", kind: codecVP8, p: cat([]byte{0x10}, vp8Key320[:6], []byte{0, 0xc0}, vp8Key320[8:])},
		{name: "VP8 payload as VP9", kind: codecVP9, p: cat([]byte{0x10}, vp8Key320)},
		{name: "SPS as audio", kind: codecOther, p: spsBaseline720},
		{name: "SPS as VP8", kind: codecVP8, p: spsBaseline720},
		{name: "H264 PPS", kind: codecH264, p: ppsBaseline720},
		{name: "H264 IDR slice", kind: codecH264, p: fromHex("65 88 84 00 33 ff")},
		{name: "H264 forbidden bit", kind: codecH264, p: cat([]byte{0xe7}, spsBaseline720[1:])},
		{name: "STAP-A SPS with forbidden bit", kind: codecH264, p: stapA(cat([]byte{0xe7}, spsBaseline720[1:]))},
		{name: "STAP-A without SPS", kind: codecH264, p: stapA(ppsBaseline720, ppsBaseline720)},
		{name: "STAP-A size past the end", kind: codecH264, p: fromHex("78 00 40 67 42 c0 1f")},
		{name: "STAP-A zero size", kind: codecH264, p: cat(fromHex("78 00 00"), stapA(spsBaseline720)[1:])},
		{name: "FU-A middle fragment", kind: codecH264, p: cat([]byte{0x7c, 0x07}, spsMain360[1:])},
		{name: "FU-A first fragment cut short", kind: codecH264, p: fuA(spsMain360, 1, 6)},
		{name: "FU-A of an IDR slice", kind: codecH264, p: fromHex("7c 85 88 84 00 33 ff")},
		{name: "SPS id 32", kind: codecH264, p: with(func(s *spsSpec) { s.id = 32 })},
		{name: "chroma_format_idc 4", kind: codecH264, p: with(func(s *spsSpec) { s.chroma = 4 })},
		{name: "bit depth 15", kind: codecH264, p: with(func(s *spsSpec) { s.depth = 7 })},
		{name: "scaling delta -129", kind: codecH264, p: with(func(s *spsSpec) { s.lists = firstList(121, -129) })},
		{name: "scaling delta 128", kind: codecH264, p: with(func(s *spsSpec) { s.lists = firstList(120, 128) })},
		{name: "log2_max_frame_num 17", kind: codecH264, p: with(func(s *spsSpec) { s.frameNum = 13 })},
		{name: "log2_max_pic_order_cnt_lsb 17", kind: codecH264, p: with(func(s *spsSpec) { s.pocLSB = 13 })},
		{name: "poc type 3", kind: codecH264, p: with(func(s *spsSpec) { s.pocType = 3 })},
		{name: "poc cycle of 256", kind: codecH264, p: with(func(s *spsSpec) {
			s.pocType, s.pocOffsets = 1, make([]int64, 258)
		})},
		{name: "width 16400", kind: codecH264, p: with(func(s *spsSpec) { s.wMbs = 1025 })},
		{name: "interlaced height 16416", kind: codecH264, p: with(func(s *spsSpec) { s.hMaps, s.interlaced = 513, true })},
		{name: "cropped to nothing", kind: codecH264, p: with(func(s *spsSpec) { s.wMbs, s.crop = 1, []uint64{4, 4, 0, 0} })},
		{name: "crop wider than the picture", kind: codecH264, p: with(func(s *spsSpec) { s.crop = []uint64{1 << 31, 1 << 31, 0, 0} })},
		{name: "exp-Golomb code too long", kind: codecH264, p: fromHex("67 42 c0 1f 00 00 03 00 00 03 00 00 03 00 00 03 00 01 ff")},
		{name: "SPS ends in an emulation prevention byte", kind: codecH264, p: fromHex("67 42 c0 1f 00 00 03")},
	}
}

func TestFrameSize(t *testing.T) {
	for _, c := range append(validCases(), invalidCases()...) {
		w, h, ok := frameSize(c.kind, c.p)
		want := c.w != 0
		if ok != want || w != c.w || h != c.h {
			t.Errorf("%s: frameSize = %d, %d, %v; want %d, %d, %v", c.name, w, h, ok, c.w, c.h, want)
		}
	}
}

// TestFrameSizeProfiles builds an SPS for every profile_idc that has
// chroma_format_idc, there 4:2:2, and for some that do not, which are
// 4:2:0: the same bottom crop takes twice the rows from those.
func TestFrameSizeProfiles(t *testing.T) {
	for _, profile := range append([]uint64{66, 77, 88, 120}, highProfileIDs...) {
		s := spsSpec{profile: profile, chroma: 2, lists: scalingLists(8), wMbs: 54, hMaps: 31, crop: []uint64{5, 0, 0, 14}}
		wantH := 468
		if slices.Contains(highProfileIDs, profile) {
			wantH = 482
		}
		w, h, ok := frameSize(codecH264, s.sps())
		if !ok || w != 854 || h != wantH {
			t.Errorf("profile %d: frameSize = %d, %d, %v; want 854, %d, true", profile, w, h, ok, wantH)
		}
	}
}

// TestFrameSizeExpGolomb reads back exp-Golomb codes the test writer made,
// up to the largest that fits in 32 bits, and refuses a longer one.
func TestFrameSizeExpGolomb(t *testing.T) {
	values := []uint64{0, 1, 2, 3, 7, 254, 255, 65535, 1<<31 - 1, 1<<32 - 2}
	signed := []int64{0, 1, -1, 2, -2, 127, -128, 1<<31 - 1, -(1<<31 - 1)}
	w := &spsWriter{}
	for _, v := range values {
		w.ue(v)
	}
	for _, v := range signed {
		w.se(v)
	}
	w.u(32, 0) // A code of 32 leading zeros whose value wraps to 79.
	w.u(1, 1)
	w.u(32, 80)
	r := rbspReader{b: w.nal()[1:]}
	for _, v := range values {
		if got := r.ue(); uint64(got) != v || r.err {
			t.Errorf("ue = %d, err %v; want %d", got, r.err, v)
		}
	}
	for _, v := range signed {
		if got := r.se(); int64(got) != v || r.err {
			t.Errorf("se = %d, err %v; want %d", got, r.err, v)
		}
	}
	if r.ue(); !r.err {
		t.Error("a 65-bit exp-Golomb code was read without error")
	}
}

// TestFrameSizeEmulationPrevention checks that the emulation prevention
// test vector has a 00 00 03 where frameSize reads, not only after it.
func TestFrameSizeEmulationPrevention(t *testing.T) {
	wr, b := epbSpec.build()
	if wr.firstEPB < 0 || wr.firstEPB*8 >= wr.sizeAt || !bytes.Contains(b, []byte{0, 0, 3}) {
		t.Fatalf("no emulation prevention byte before bit %d in % x", wr.sizeAt, b)
	}
}

// TestFrameSizePrefixes cuts every valid payload at every length: each cut
// must give no size or the size of the whole payload. The cuts have no
// spare capacity, so a read past their end panics.
func TestFrameSizePrefixes(t *testing.T) {
	for _, c := range validCases() {
		for n := range len(c.p) {
			w, h, ok := frameSize(c.kind, c.p[:n:n])
			if ok && (w != c.w || h != c.h) {
				t.Errorf("%s cut at %d: frameSize = %d, %d; want %d, %d", c.name, n, w, h, c.w, c.h)
			}
			if n == 0 && ok {
				t.Errorf("%s: size from an empty payload", c.name)
			}
		}
	}
}

// TestFrameSizeCorrupted flips each bit of each valid payload; frameSize
// must not panic and must stay within its limits.
func TestFrameSizeCorrupted(t *testing.T) {
	for _, c := range validCases() {
		p := bytes.Clone(c.p)
		for i := range len(p) * 8 {
			p[i/8] ^= 1 << (i % 8)
			checkFrameSize(t, c.kind, p)
			p[i/8] ^= 1 << (i % 8)
		}
	}
}

// checkFrameSize fails the test if a size frameSize returns is out of range.
func checkFrameSize(t *testing.T, k codecKind, p []byte) {
	w, h, ok := frameSize(k, p)
	if ok && (w <= 0 || h <= 0 || w > maxFrameDim || h > maxFrameDim) {
		t.Fatalf("frameSize(%d, % x) = %d, %d, true", k, p, w, h)
	}
	if !ok && (w != 0 || h != 0) {
		t.Fatalf("frameSize(%d, % x) = %d, %d, false", k, p, w, h)
	}
}

func TestFrameSizeAllocs(t *testing.T) {
	cases := append(validCases(), invalidCases()...)
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range cases {
			frameSize(c.kind, c.p)
		}
	})
	if allocs != 0 {
		t.Errorf("frameSize allocates %v times per run", allocs)
	}
}

func FuzzFrameSize(f *testing.F) {
	for _, c := range append(validCases(), invalidCases()...) {
		f.Add(uint8(c.kind), c.p)
	}
	f.Fuzz(func(t *testing.T, kind uint8, p []byte) {
		checkFrameSize(t, codecKind(kind%5), p)
	})
}

func BenchmarkFrameSize(b *testing.B) {
	cases := validCases()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := cases[i%len(cases)]
		frameSize(c.kind, c.p)
	}
}
