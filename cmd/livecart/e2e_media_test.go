package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
)

// e2eMediaArgs run a server whose ICE candidates are on loopback, where the
// test peers are.
var e2eMediaArgs = []string{"--public-ip", "127.0.0.1"}

// TestE2EMedia is a show's media through the real server: a WHIP publisher
// (synthetic VP8 or H264 with Opus), WHEP viewers receiving RTP, the room
// told when the stream goes live and ends, and the WHIP/WHEP resources.
func TestE2EMedia(t *testing.T) {
	ts := MustServe(t, nil, slices.Concat(e2eMediaArgs, []string{"--ice-servers", "stun:stun.example.net:3478"})...)
	base := ts.URL
	host := ts.e2eToken(t, "host-m", "Max", auth.Host)
	viewer := ts.e2eToken(t, "v-m", "Vi", auth.Viewer)

	t.Run("vp8", func(t *testing.T) {
		e2eMust(t, 201, "POST", base+"/api/streams", host, map[string]any{"id": "vp8", "title": "VP8 show"}, nil)
		room, _ := e2eJoin(t, base, "vp8", "")

		// Nobody publishes yet.
		offer := e2eViewerOffer(t)
		e2eProblem(t, "WHEP before live", e2eSDP(t, "POST", base+"/api/streams/vp8/whep", "", offer), 404, "stream_offline")
		e2eProblem(t, "WHEP on an unknown stream", e2eSDP(t, "POST", base+"/api/streams/nope/whep", "", offer), 404, "not_found")
		e2eProblem(t, "WHIP without a token", e2eSDP(t, "POST", base+"/api/streams/vp8/whip", "", offer), 401, "unauthorized")
		e2eProblem(t, "WHIP by a viewer", e2eSDP(t, "POST", base+"/api/streams/vp8/whip", viewer, offer), 403, "forbidden")
		e2eProblem(t, "WHIP by another host", e2eSDP(t, "POST", base+"/api/streams/vp8/whip", ts.e2eToken(t, "host-o", "", auth.Host), offer), 403, "forbidden")
		if s := e2eGetStream(t, base, "vp8"); s.Status != "offline" {
			t.Errorf("status before WHIP = %q, want offline", s.Status)
		}

		mark := room.mark()
		pub := e2ePublish(t, base, "vp8", host, e2eVP8)
		if !strings.HasPrefix(pub.location, base+"/api/streams/vp8/whip/") {
			t.Errorf("WHIP Location = %q, want under /api/streams/vp8/whip/", pub.location)
		}
		room.wait(t, mark, "stream", func(m e2eMsg) bool { return m.str("status") == "live" })
		if s := e2eGetStream(t, base, "vp8"); s.Status != "live" {
			t.Errorf("GET stream after WHIP = %q, want live", s.Status)
		}
		var list struct {
			Items []e2eStream `json:"items"`
		}
		e2eMust(t, 200, "GET", base+"/api/streams", "", nil, &list)
		if len(list.Items) == 0 || list.Items[0].ID != "vp8" {
			t.Errorf("GET /api/streams = %+v, want the live vp8 first", list.Items)
		}

		viewers := make([]*e2eViewer, 3)
		for i := range viewers {
			viewers[i] = e2eWatch(t, base, "vp8")
			if !strings.HasPrefix(viewers[i].location, base+"/api/streams/vp8/whep/") {
				t.Errorf("WHEP Location = %q, want under /api/streams/vp8/whep/", viewers[i].location)
			}
			links := viewers[i].header.Values("Link")
			if !slices.Contains(links, `<stun:stun.example.net:3478>; rel="ice-server"`) ||
				!slices.Contains(links, `<`+strings.TrimPrefix(viewers[i].location, base)+`/layer>; rel="urn:ietf:params:whep:ext:core:layer"`) || len(links) != 2 {
				t.Errorf("WHEP Link headers = %q, want the configured STUN server as rel=ice-server and the session's layer resource", links)
			}
		}
		for _, v := range viewers {
			v.waitMedia(t, 20)
		}

		// A WHEP DELETE needs no token: holding the Location is enough.
		if r := e2eSDP(t, "DELETE", viewers[0].location, "", ""); r.Status != 200 {
			t.Errorf("WHEP DELETE without a token = %s, want 200", r)
		}
		viewers[1].waitMedia(t, 20) // the others play on

		// A WHIP DELETE needs the host's token.
		e2eProblem(t, "WHIP DELETE without a token", e2eSDP(t, "DELETE", pub.location, "", ""), 401, "unauthorized")
		e2eProblem(t, "WHIP DELETE by a viewer", e2eSDP(t, "DELETE", pub.location, viewer, ""), 403, "forbidden")
		viewers[2].waitMedia(t, 20) // still publishing
		if r := e2eSDP(t, "DELETE", pub.location, host, ""); r.Status != 200 {
			t.Errorf("WHIP DELETE by the host = %s, want 200", r)
		}
		pub.close()

		// The host publishes again within the grace: viewers play on, on the
		// same track, without renegotiating.
		again := e2ePublish(t, base, "vp8", host, e2eVP8)
		for _, v := range viewers[1:] {
			v.waitMedia(t, 20)
			ssrcs, jumps := v.continuity()
			if n := v.tracks.Load(); n != 2 || ssrcs != 1 {
				t.Errorf("after the host published again the viewer had %d tracks and %d video SSRCs, want 2 and 1", n, ssrcs)
			}
			if jumps != 0 {
				t.Errorf("the viewer's video sequence numbers jumped %d times, want them to continue across the republish", jumps)
			}
			if v.pc.SignalingState() != webrtc.SignalingStateStable {
				t.Errorf("viewer signaling state %s, want stable", v.pc.SignalingState())
			}
		}
		if r := e2eSDP(t, "DELETE", again.location, host, ""); r.Status != 200 {
			t.Errorf("WHIP DELETE of the second session = %s, want 200", r)
		}

		// The show ends: the room is told, and nobody publishes or plays any more.
		mark = room.mark()
		var ended e2eStream
		e2eMust(t, 200, "POST", base+"/api/streams/vp8/end", host, nil, &ended)
		if ended.Status != "ended" {
			t.Errorf("POST end = %+v, want status ended", ended)
		}
		room.wait(t, mark, "stream", func(m e2eMsg) bool { return m.str("status") == "ended" })
		if s := e2eGetStream(t, base, "vp8"); s.Status != "ended" {
			t.Errorf("GET stream after end = %q, want ended", s.Status)
		}
		e2eProblem(t, "WHEP after the end", e2eSDP(t, "POST", base+"/api/streams/vp8/whep", "", e2eViewerOffer(t)), 404, "stream_offline")
		e2eProblem(t, "WHIP after the end", e2eSDP(t, "POST", base+"/api/streams/vp8/whip", host, e2ePublisherOffer(t)), 409, "conflict")
	})

	t.Run("h264", func(t *testing.T) {
		e2eMust(t, 201, "POST", base+"/api/streams", host, map[string]any{"id": "h264", "title": "OBS show"}, nil)
		pub := e2ePublish(t, base, "h264", host, e2eH264)
		v := e2eWatch(t, base, "h264")
		v.waitMedia(t, 20)
		var codec string
		for _, tr := range v.pc.GetTransceivers() {
			if r := tr.Receiver(); r != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
				if tracks := r.Tracks(); len(tracks) > 0 {
					codec = tracks[0].Codec().MimeType
				}
			}
		}
		if !strings.EqualFold(codec, webrtc.MimeTypeH264) {
			t.Errorf("the viewer's video codec = %q, want H264 as published (no transcoding)", codec)
		}
		if r := e2eSDP(t, "DELETE", pub.location, host, ""); r.Status != 200 {
			t.Errorf("WHIP DELETE = %s, want 200", r)
		}
	})
}

// e2eViewerOffer is a complete WHEP offer from a peer that is then
// dropped, for requests that are refused.
func e2eViewerOffer(tb testing.TB) string {
	tb.Helper()
	pc, err := e2ePeerAPI(tb).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatal(err)
		}
	}
	return e2eOffer(tb, pc)
}

// e2ePublisherOffer is a complete WHIP offer (VP8 and Opus) from a peer
// that is then dropped.
func e2ePublisherOffer(tb testing.TB) string {
	tb.Helper()
	pc, err := e2ePeerAPI(tb, e2eVP8, e2eOpus).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			tb.Fatal(err)
		}
	}
	return e2eOffer(tb, pc)
}
