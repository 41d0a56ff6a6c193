package stream

import "encoding/binary"

// maxFrameDim is the largest width or height frameSize reports; anything
// larger is taken for a malformed header.
const maxFrameDim = 16384

// frameSize returns the width and height a keyframe announces in one RTP
// payload: for VP8 the key frame header of the first packet of partition 0;
// for H264 the sequence parameter set (a single SPS NAL unit, an SPS inside
// a STAP-A, or the first fragment of an FU-A carrying an SPS). ok is false
// for any other payload, and for a malformed one.
func frameSize(k codecKind, p []byte) (w, h int, ok bool) {
	switch k {
	case codecVP8:
		w, h, ok = vp8FrameSize(p)
	case codecH264:
		w, h, ok = h264FrameSize(p)
	}
	if !ok || w <= 0 || h <= 0 || w > maxFrameDim || h > maxFrameDim {
		return 0, 0, false
	}
	return w, h, true
}

// vp8PayloadOffset returns where the VP8 payload starts after the payload
// descriptor (RFC 7741 §4.2), or false if the descriptor is cut short.
func vp8PayloadOffset(p []byte) (int, bool) {
	if len(p) == 0 {
		return 0, false
	}
	if p[0]&0x80 == 0 { // X: no extension byte
		return 1, true
	}
	if len(p) < 2 {
		return 0, false
	}
	ext, i := p[1], 2
	if ext&0x80 != 0 { // I: a 7- or 15-bit picture id
		if len(p) <= i {
			return 0, false
		}
		if p[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if ext&0x40 != 0 { // L: TL0PICIDX
		i++
	}
	if ext&0x30 != 0 { // T or K: TID, Y and KEYIDX share one byte
		i++
	}
	return i, i <= len(p)
}

// vp8FrameSize reads the key frame header (RFC 6386 §9.1) at the start of
// the first packet of partition 0.
func vp8FrameSize(p []byte) (int, int, bool) {
	if len(p) == 0 || p[0]&0x10 == 0 || p[0]&0x07 != 0 { // S and PID
		return 0, 0, false
	}
	i, ok := vp8PayloadOffset(p)
	if !ok || len(p)-i < 10 {
		return 0, 0, false
	}
	f := p[i : i+10]
	if f[0]&0x01 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	// The top two bits of each dimension are the upscaling mode.
	w := binary.LittleEndian.Uint16(f[6:8]) & 0x3fff
	h := binary.LittleEndian.Uint16(f[8:10]) & 0x3fff
	return int(w), int(h), true
}

// h264FrameSize finds an SPS in a single NAL unit, STAP-A or FU-A payload
// (RFC 6184 §5.6–5.8) and reads the picture size from it.
func h264FrameSize(p []byte) (int, int, bool) {
	if len(p) == 0 || p[0]&0x80 != 0 { // forbidden_zero_bit
		return 0, 0, false
	}
	switch p[0] & 0x1f {
	case 7:
		return spsFrameSize(p[1:])
	case 24:
		return stapFrameSize(p)
	case 28:
		// FU header: S E R type; only a first fragment holds the start
		// of the SPS, and the SPS must fit in it.
		if len(p) < 2 || p[1]&0xe0 != 0x80 || p[1]&0x1f != 7 {
			return 0, 0, false
		}
		return spsFrameSize(p[2:])
	}
	return 0, 0, false
}

// stapFrameSize reads the first SPS aggregated in a STAP-A payload.
func stapFrameSize(p []byte) (int, int, bool) {
	for i := 1; i+2 <= len(p); {
		size := int(binary.BigEndian.Uint16(p[i : i+2]))
		i += 2
		if size == 0 || size > len(p)-i {
			return 0, 0, false
		}
		if p[i]&0x9f == 7 { // forbidden_zero_bit clear, type SPS
			return spsFrameSize(p[i+1 : i+size])
		}
		i += size
	}
	return 0, 0, false
}

// highProfile reports whether an SPS of this profile_idc carries
// chroma_format_idc, the bit depths and the scaling matrices.
func highProfile(profile uint32) bool {
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// spsFrameSize parses seq_parameter_set_data (H.264 §7.3.2.1.1) from the
// bytes after the NAL unit header, as far as the frame cropping fields.
func spsFrameSize(b []byte) (int, int, bool) {
	r := rbspReader{b: b}
	profile := r.bits(8)
	// Skip the constraint flags, reserved bits and level_idc.
	r.bits(16)
	if r.ue() > 31 { // seq_parameter_set_id
		return 0, 0, false
	}
	chroma := uint32(1) // Without chroma_format_idc, 4:2:0.
	if highProfile(profile) {
		var ok bool
		if chroma, ok = readChromaFormat(&r); !ok {
			return 0, 0, false
		}
	}
	if r.ue() > 12 { // log2_max_frame_num_minus4
		return 0, 0, false
	}
	if !skipPicOrderCnt(&r) {
		return 0, 0, false
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	return readPictureSize(&r, chroma)
}

// readChromaFormat reads the fields high profiles add to an SPS and returns
// chroma_format_idc.
func readChromaFormat(r *rbspReader) (uint32, bool) {
	format := r.ue()
	if format > 3 {
		return 0, false
	}
	if format == 3 {
		// Separate colour planes make ChromaArrayType 0, whose crop
		// units are those of 4:4:4.
		r.bit() // separate_colour_plane_flag
	}
	lumaDepth, chromaDepth := r.ue(), r.ue() // bit_depth_*_minus8
	if lumaDepth > 6 || chromaDepth > 6 {
		return 0, false
	}
	r.bit() // qpprime_y_zero_transform_bypass_flag
	if r.bit() == 1 && !skipScalingMatrix(r, format == 3) {
		return 0, false
	}
	return format, !r.err
}

// skipScalingMatrix skips the scaling lists of an SPS whose
// seq_scaling_matrix_present_flag is set: eight lists, or twelve for
// 4:4:4; the first six have 16 entries and the others 64.
func skipScalingMatrix(r *rbspReader, yuv444 bool) bool {
	n := 8
	if yuv444 {
		n = 12
	}
	for i := range n {
		if r.bit() == 0 { // seq_scaling_list_present_flag
			continue
		}
		size := 64
		if i < 6 {
			size = 16
		}
		if !skipScalingList(r, size) {
			return false
		}
	}
	return !r.err
}

// skipScalingList skips one scaling_list() (H.264 §7.3.2.1.1.1): it reads
// delta_scale values until the list is full or a scale of zero ends it
// (the default list, or the last scale repeated to the end).
func skipScalingList(r *rbspReader, size int) bool {
	scale := int32(8)
	for range size {
		delta := r.se()
		if delta < -128 || delta > 127 || r.err {
			return false
		}
		scale = (scale + delta + 256) % 256
		if scale == 0 {
			break
		}
	}
	return true
}

// skipPicOrderCnt skips pic_order_cnt_type and the fields that depend on it.
func skipPicOrderCnt(r *rbspReader) bool {
	switch r.ue() {
	case 0:
		return r.ue() <= 12 // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.bit() // delta_pic_order_always_zero_flag
		r.se()  // offset_for_non_ref_pic
		r.se()  // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 { // num_ref_frames_in_pic_order_cnt_cycle
			return false
		}
		for range n {
			r.se() // offset_for_ref_frame
			if r.err {
				return false
			}
		}
		return true
	case 2:
		return true
	}
	return false
}

// readPictureSize reads the size in macroblocks, the field coding flags and
// the frame cropping of an SPS, and returns the cropped size in pixels.
func readPictureSize(r *rbspReader, chroma uint32) (int, int, bool) {
	wMbs := int64(r.ue()) + 1  // pic_width_in_mbs_minus1
	hMaps := int64(r.ue()) + 1 // pic_height_in_map_units_minus1
	frameMbsOnly := int64(r.bit())
	if frameMbsOnly == 0 {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	var left, right, top, bottom int64
	if r.bit() == 1 { // frame_cropping_flag
		left, right = int64(r.ue()), int64(r.ue())
		top, bottom = int64(r.ue()), int64(r.ue())
	}
	unitX, unitY := cropUnits(chroma)
	unitY *= 2 - frameMbsOnly
	// Every term is below 2^38, so none of this overflows, and the check
	// keeps int(w) and int(h) exact where int has 32 bits.
	w := wMbs*16 - unitX*(left+right)
	h := (2-frameMbsOnly)*hMaps*16 - unitY*(top+bottom)
	if r.err || w <= 0 || h <= 0 || w > maxFrameDim || h > maxFrameDim {
		return 0, 0, false
	}
	return int(w), int(h), true
}

// cropUnits returns CropUnitX and CropUnitY for a frame-only picture of
// the given chroma_format_idc (H.264 §7.4.2.1.1, Table 6-1).
func cropUnits(chroma uint32) (int64, int64) {
	switch chroma {
	case 1: // 4:2:0
		return 2, 2
	case 2: // 4:2:2
		return 2, 1
	}
	return 1, 1 // Monochrome and 4:4:4, colour planes separate or not.
}

// rbspReader reads the bits of a NAL unit payload, dropping the emulation
// prevention bytes (a 0x03 after two zero bytes) as it goes. Reading past
// the end sets err and yields zeros from then on.
type rbspReader struct {
	b     []byte
	i     int  // index of the next byte of b
	cur   byte // the byte being read
	n     uint // bits of cur not yet read
	zeros int  // zero bytes just before b[i]
	err   bool
}

// next loads the next byte of the RBSP into cur.
func (r *rbspReader) next() bool {
	if r.zeros >= 2 && r.i < len(r.b) && r.b[r.i] == 0x03 {
		r.i++
		r.zeros = 0
	}
	if r.i >= len(r.b) {
		r.err = true
		return false
	}
	r.cur, r.n = r.b[r.i], 8
	r.i++
	if r.cur == 0 {
		r.zeros++
	} else {
		r.zeros = 0
	}
	return true
}

// bit reads one bit.
func (r *rbspReader) bit() uint32 {
	if r.n == 0 && !r.next() {
		return 0
	}
	r.n--
	return uint32(r.cur>>r.n) & 1
}

// bits reads n ≤ 32 bits, most significant first.
func (r *rbspReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned exp-Golomb code (H.264 §9.1). Codes of more than 31
// leading zeros do not fit and set err.
func (r *rbspReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		if r.err || zeros == 31 {
			r.err = true
			return 0
		}
		zeros++
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

// se reads a signed exp-Golomb code (H.264 §9.1.1).
func (r *rbspReader) se() int32 {
	k := r.ue()
	if k&1 == 1 {
		return int32(k/2 + 1)
	}
	return -int32(k / 2)
}
