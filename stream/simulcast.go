package stream

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
)

// layerOffer is one simulcast layer a publisher offers: its rid (RFC 8851)
// and the payload types it is restricted to (none: any of the section's).
type layerOffer struct {
	id  string
	pts []string
}

// maxRidLen bounds a rid; RFC 8851 sets no bound, and real ones are short.
const maxRidLen = 32

// offerLayers reads the simulcast of one media section of a publisher's
// offer (RFC 8853): the layers it sends, in the order of a=simulcast, each
// declared by an a=rid line. An offer the relay cannot take whole is a
// client error: more than three layers, a layer with alternatives or
// without its a=rid, an a=rid no layer uses, payload types the section
// does not have, or layers restricted to different codecs.
func offerLayers(m *sdp.MediaDescription) ([]layerOffer, error) {
	declared := map[string][]string{}
	var order []string
	var sim string
	simSeen := false
	for _, a := range m.Attributes {
		switch a.Key {
		case "rid":
			id, pts, err := parseRid(a.Value)
			if err != nil {
				return nil, err
			}
			if _, dup := declared[id]; dup {
				return nil, api.Errorf(api.BadRequest, "the offer declares rid %q twice", id)
			}
			declared[id] = pts
			order = append(order, id)
		case "simulcast":
			if simSeen {
				return nil, api.New(api.BadRequest, "the offer has two a=simulcast lines in one section")
			}
			sim, simSeen = a.Value, true
		}
	}
	if !simSeen {
		if len(declared) > 0 {
			return nil, api.Errorf(api.BadRequest, "the offer declares rid %q without a=simulcast", order[0])
		}
		return nil, nil
	}
	ids, err := parseSimulcast(sim)
	if err != nil {
		return nil, err
	}
	if len(ids) > maxLayers {
		return nil, api.Errorf(api.BadRequest, "the offer sends %d simulcast layers; at most %d are relayed", len(ids), maxLayers)
	}
	if !hasMsid(m) {
		return nil, api.New(api.BadRequest, "a simulcast section needs a=msid to name its track")
	}
	layers := make([]layerOffer, 0, len(ids))
	for _, id := range ids {
		pts, ok := declared[id]
		if !ok {
			return nil, api.Errorf(api.BadRequest, "a=simulcast names rid %q, which no a=rid line declares", id)
		}
		layers = append(layers, layerOffer{id: id, pts: pts})
	}
	for _, id := range order {
		if !slices.Contains(ids, id) {
			return nil, api.Errorf(api.BadRequest, "the offer declares rid %q, which a=simulcast does not send", id)
		}
	}
	if err := checkLayerPTs(m, layers); err != nil {
		return nil, err
	}
	return layers, nil
}

// parseRid reads "id send [pt=96,97][;key=value...]" (RFC 8851).
func parseRid(v string) (id string, pts []string, err error) {
	f := strings.Fields(v)
	if len(f) < 2 || !validRid(f[0]) {
		return "", nil, api.Errorf(api.BadRequest, "a=rid:%s is not a valid rid line", v)
	}
	if f[1] != "send" {
		return "", nil, api.Errorf(api.BadRequest, "a=rid:%s: a publisher's layers must be \"send\"", v)
	}
	if len(f) > 2 {
		for _, kv := range strings.Split(f[2], ";") {
			if k, val, _ := strings.Cut(kv, "="); k == "pt" {
				pts = strings.Split(val, ",")
			}
		}
	}
	return f[0], pts, nil
}

// validRid reports whether id is a rid-id: letters, digits, '-' and '_'.
func validRid(id string) bool {
	if id == "" || len(id) > maxRidLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseSimulcast reads "send a;b;~c" and returns the rids, paused ones
// included. The relay receives layers: "recv" is refused, and so are
// alternatives ("a,b"), which name two formats for one layer.
func parseSimulcast(v string) ([]string, error) {
	f := strings.Fields(v)
	if len(f) != 2 || f[0] != "send" {
		return nil, api.Errorf(api.BadRequest, "a=simulcast:%s: a publisher's offer must read \"send\" and its rids", v)
	}
	var ids []string
	for _, s := range strings.Split(f[1], ";") {
		if strings.Contains(s, ",") {
			return nil, api.Errorf(api.BadRequest, "a=simulcast:%s: alternatives (%q) are not relayed; name one rid per layer", v, s)
		}
		id := strings.TrimPrefix(s, "~")
		if !validRid(id) {
			return nil, api.Errorf(api.BadRequest, "a=simulcast:%s names an invalid rid %q", v, s)
		}
		if slices.Contains(ids, id) {
			return nil, api.Errorf(api.BadRequest, "a=simulcast:%s names rid %q twice", v, id)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// checkSimulcastSyntax refuses, in a viewer's offer, an a=simulcast
// attribute that names an empty stream ("send h;;l"), which pion/webrtc
// cannot read (it panics).
func checkSimulcastSyntax(m *sdp.MediaDescription) error {
	for _, a := range m.Attributes {
		if a.Key != "simulcast" {
			continue
		}
		v := a.Value
		if space := strings.Index(v, " "); space > 0 {
			v = v[space+1:]
		}
		for _, s := range strings.Split(v, ";") {
			if s == "" {
				return api.Errorf(api.BadRequest, "the SDP offer's a=simulcast:%s names an empty stream", a.Value)
			}
		}
	}
	return nil
}

func hasMsid(m *sdp.MediaDescription) bool {
	for _, a := range m.Attributes {
		if a.Key == "msid" || a.Key == "ssrc" && strings.Contains(a.Value, " msid:") {
			return true
		}
	}
	return false
}

// checkLayerPTs checks the layers' payload type restrictions: each one
// names a format of the section, and all layers the same codec.
func checkLayerPTs(m *sdp.MediaDescription, layers []layerOffer) error {
	mime := map[string]string{}
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, _ := strings.Cut(a.Value, " ")
		name, _, _ := strings.Cut(enc, "/")
		mime[pt] = strings.ToLower(name)
	}
	first, firstRid := "", ""
	for _, l := range layers {
		codecs := map[string]bool{}
		for _, pt := range l.pts {
			if !slices.Contains(m.MediaName.Formats, pt) {
				return api.Errorf(api.BadRequest, "rid %q is restricted to payload type %s, which its section does not offer", l.id, pt)
			}
			if c := mime[pt]; c != "rtx" && c != "red" && c != "ulpfec" {
				codecs[c] = true
			}
		}
		if len(codecs) == 0 {
			continue
		}
		if len(codecs) > 1 {
			return api.Errorf(api.BadRequest, "rid %q is restricted to several codecs; each layer must use one, the same for all", l.id)
		}
		for c := range codecs {
			if first == "" {
				first, firstRid = c, l.id
			} else if c != first {
				return api.Errorf(api.BadRequest, "rid %q sends %s and rid %q sends %s: simulcast layers must use the same codec", firstRid, first, l.id, c)
			}
		}
	}
	return nil
}

// checkLayerCodecs checks, once the codec of the video is chosen, that
// every layer may send it.
func checkLayerCodecs(layers []layerOffer, chosen webrtc.RTPCodecParameters) error {
	pt := strconv.Itoa(int(chosen.PayloadType))
	for _, l := range layers {
		if len(l.pts) > 0 && !slices.Contains(l.pts, pt) {
			return api.Errorf(api.BadRequest, "rid %q may not send %s, the codec the relay chose for the video", l.id, chosen.MimeType)
		}
	}
	return nil
}
