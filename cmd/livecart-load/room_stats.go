package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The texts the room mode posts start with a letter saying who posted
// them, then the send time in Unix nanoseconds, then a number:
//
//	v TIME SENDER   a signed-in viewer's chat line (sampled in a busy room)
//	h TIME 0        the host's chat line (never dropped)
//	q TIME N        the N-th question, by a viewer
//	a TIME N        the host's answer to the N-th question (never dropped)
//
// A reader tells them apart without decoding JSON.

// roomLine is what a reader learns from one server message.
type roomLine struct {
	typ    string // the message's type
	who    byte   // v, h, q or a for the mode's own lines; 0 otherwise
	sent   int64  // the send time (Unix ns) of the mode's own lines
	n      int    // the sender (v) or question (q, a)
	id     string // questions: the id, for the answer
	count  int    // skipped: count
	closed bool
}

var (
	typePrefix = []byte(`{"type":"`)
	textKey    = []byte(`"text":"`)
	idKey      = []byte(`"id":"`)
	countKey   = []byte(`"count":`)
)

// parseRoomLine reads one line of a frame. The server writes "type" first.
func parseRoomLine(line []byte) roomLine {
	var l roomLine
	rest, ok := bytes.CutPrefix(line, typePrefix)
	if !ok {
		return l
	}
	typ, rest, ok := bytes.Cut(rest, []byte{'"'})
	if !ok {
		return l
	}
	l.typ = string(typ)
	switch l.typ {
	case "chat", "question", "answer":
		if i := bytes.Index(rest, textKey); i >= 0 {
			t := rest[i+len(textKey):]
			if j := bytes.IndexByte(t, '"'); j >= 0 {
				t = t[:j]
			}
			f := bytes.Fields(t)
			if len(f) == 3 && len(f[0]) == 1 {
				l.who = f[0][0]
				l.sent, _ = strconv.ParseInt(string(f[1]), 10, 64)
				l.n, _ = strconv.Atoi(string(f[2]))
			}
		}
		if l.typ == "question" {
			if i := bytes.Index(rest, idKey); i >= 0 {
				t := rest[i+len(idKey):]
				if j := bytes.IndexByte(t, '"'); j >= 0 {
					l.id = string(t[:j])
				}
			}
		}
	case "skipped":
		if i := bytes.Index(rest, countKey); i >= 0 {
			t := rest[i+len(countKey):]
			j := 0
			for j < len(t) && t[j] >= '0' && t[j] <= '9' {
				j++
			}
			l.count, _ = strconv.Atoi(string(t[:j]))
		}
	}
	return l
}

// roomStats is what the readers measure, shared by their goroutines.
type roomStats struct {
	startNS atomic.Int64 // when posting began (Unix ns); 0 before
	start   time.Time

	lines   atomic.Int64 // chat lines, questions and answers received by viewers
	events  atomic.Int64 // product, stock and order messages
	dropped atomic.Int64 // viewers closed by the server

	mu      sync.Mutex
	viewers []*roomViewer
}

func newRoomStats() *roomStats { return &roomStats{} }

// began records when posting begins.
func (st *roomStats) began(t time.Time) {
	st.start = t
	st.startNS.Store(t.UnixNano())
}

// roomViewer is what one reading viewer received; only its goroutine
// writes it until the run is over.
type roomViewer struct {
	perSecond []uint16 // lines received in each second since posting began
	host      int      // host lines
	answers   int
	questions int
	viewer    int // viewers' chat lines
	skipped   int // sum of skipped counts
	lat       []time.Duration
	hostLat   []time.Duration // host lines and answers
}

func (st *roomStats) newViewer() *roomViewer {
	v := &roomViewer{}
	st.mu.Lock()
	st.viewers = append(st.viewers, v)
	st.mu.Unlock()
	return v
}

// read reads one viewer's frames until the run ends or the server closes
// the connection.
func (v *roomViewer) read(ctx context.Context, conn *websocket.Conn, st *roomStats) {
	defer conn.Close()
	go func() { <-ctx.Done(); conn.Close() }()
	var seen int
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ctx.Err() == nil {
				st.dropped.Add(1)
			}
			return
		}
		now := time.Now().UnixNano()
		for line := range bytes.SplitSeq(data, []byte{'\n'}) {
			l := parseRoomLine(line)
			switch l.typ {
			case "stock", "order", "product":
				st.events.Add(1)
				continue
			case "skipped":
				v.skipped += l.count
				continue
			case "chat", "question", "answer":
			default:
				continue
			}
			st.lines.Add(1)
			if s0 := st.startNS.Load(); s0 > 0 && now >= s0 {
				sec := int((now - s0) / int64(time.Second))
				for len(v.perSecond) <= sec {
					v.perSecond = append(v.perSecond, 0)
				}
				v.perSecond[sec]++
			}
			lat := time.Duration(now - l.sent)
			switch l.who {
			case 'h':
				v.host++
				v.hostLat = append(v.hostLat, lat)
			case 'a':
				v.answers++
				v.hostLat = append(v.hostLat, lat)
			case 'q':
				v.questions++
				v.lat = append(v.lat, lat)
			case 'v':
				v.viewer++
				if seen++; seen%16 == 0 {
					v.lat = append(v.lat, lat)
				}
			}
		}
	}
}

// roomPosted is what the posters sent, and what the senders saw of their
// own lines.
type roomPosted struct {
	viewer, host, questions, answers int
	own, ownBack                     int // senders' lines, and those that came back to their sender
	refused                          int // error messages the posters received
	failed                           int // posts not written: the poster's connection was closed
}

// report prints what the readers received against what was posted.
func (st *roomStats) report(w io.Writer, c roomConfig, p roomPosted, elapsed time.Duration) {
	st.mu.Lock()
	viewers := slices.Clone(st.viewers)
	st.mu.Unlock()
	fmt.Fprintf(w, "posted for %v: %d viewer lines (%d senders), %d host lines, %d questions, %d answers; %d refused, %d not written (poster closed by the server)\n",
		c.duration, p.viewer, c.senders, p.host, p.questions, p.answers, p.refused, p.failed)
	n := st.lines.Load()
	fmt.Fprintf(w, "delivered in %v (with 2 s to drain): %d lines to %d readers (%.0f/s); %d viewers dropped by the server\n",
		elapsed.Round(time.Millisecond), n, len(viewers), float64(n)/elapsed.Seconds(), st.dropped.Load())
	if len(viewers) == 0 {
		return
	}
	// Lines per viewer per second, over the whole seconds of posting.
	secs := int(c.duration / time.Second)
	var perSec []int
	var sumLines, sumSkipped, missHost, missAnswers int
	var lat, hostLat []time.Duration
	for _, v := range viewers {
		for s := 0; s < secs && s < len(v.perSecond); s++ {
			perSec = append(perSec, int(v.perSecond[s]))
		}
		for s := len(v.perSecond); s < secs; s++ {
			perSec = append(perSec, 0)
		}
		sumLines += v.host + v.answers + v.questions + v.viewer
		sumSkipped += v.skipped
		if v.host < p.host {
			missHost++
		}
		if v.answers < p.answers {
			missAnswers++
		}
		lat = append(lat, v.lat...)
		hostLat = append(hostLat, v.hostLat...)
	}
	if len(perSec) > 0 {
		slices.Sort(perSec)
		over := len(perSec) - sort0(perSec, c.budget+1)
		fmt.Fprintf(w, "lines per viewer per second (chat, questions, answers; %d viewer-seconds): median %d, p99 %d, max %d; %d viewer-seconds above the budget of %d\n",
			len(perSec), perSec[len(perSec)/2], perSec[min(len(perSec)-1, len(perSec)*99/100)], perSec[len(perSec)-1], over, c.budget)
	}
	nv := float64(len(viewers))
	offered := p.viewer + p.host + p.questions + p.answers
	fmt.Fprintf(w, "per viewer: %.1f of %d lines offered received, %.1f counted as skipped (sum %.1f)\n",
		float64(sumLines)/nv, offered, float64(sumSkipped)/nv, float64(sumLines+sumSkipped)/nv)
	fmt.Fprintf(w, "never dropped: host lines %s, answers %s, senders' own lines %d of %d\n",
		allOf(p.host, len(viewers), missHost), allOf(p.answers, len(viewers), missAnswers), p.ownBack, p.own)
	if len(lat) > 0 {
		slices.Sort(lat)
		fmt.Fprintf(w, "publish-to-receive, viewers' lines (1 in 16) and questions: p50 %v  p99 %v  max %v (%d samples)\n",
			pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1], len(lat))
	}
	if len(hostLat) > 0 {
		slices.Sort(hostLat)
		fmt.Fprintf(w, "publish-to-receive, host lines and answers: p50 %v  p99 %v  max %v (%d samples)\n",
			pct(hostLat, 0.50), pct(hostLat, 0.99), hostLat[len(hostLat)-1], len(hostLat))
	}
}

// sort0 is the number of values in sorted below limit.
func sort0(sorted []int, limit int) int {
	i, _ := slices.BinarySearch(sorted, limit)
	return i
}

// allOf says whether every viewer received all n of something.
func allOf(n, viewers, missed int) string {
	if missed == 0 {
		return fmt.Sprintf("all %d to every viewer", n)
	}
	return fmt.Sprintf("%d posted, %d of %d viewers missed some", n, missed, viewers)
}

func pct(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}
