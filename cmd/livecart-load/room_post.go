package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// roomPoster is one posting connection: the host, a sender or the asker.
// Writes are serialized by mu (the host answers from its reader).
type roomPoster struct {
	conn *websocket.Conn
	mu   sync.Mutex
	idx  int // a sender's number

	ownBack atomic.Int64 // a sender's own lines that came back
	refused atomic.Int64 // error messages received
}

func (p *roomPoster) send(msg map[string]string) error {
	data, _ := json.Marshal(msg)
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return p.conn.WriteMessage(websocket.TextMessage, data)
}

// read reads the poster's frames: a sender counts its own lines coming
// back, the host answers each question of the mode (when answer is set).
func (p *roomPoster) read(ctx context.Context, answer func(id string, n int)) {
	defer p.conn.Close()
	go func() { <-ctx.Done(); p.conn.Close() }()
	for {
		_, data, err := p.conn.ReadMessage()
		if err != nil {
			return
		}
		for line := range bytes.SplitSeq(data, []byte{'\n'}) {
			l := parseRoomLine(line)
			switch {
			case l.typ == "error":
				p.refused.Add(1)
			case l.typ == "chat" && l.who == 'v' && l.n == p.idx:
				p.ownBack.Add(1)
			case l.typ == "question" && l.who == 'q' && answer != nil && l.id != "":
				answer(l.id, l.n)
			}
		}
	}
}

// roomPosters are the host, the senders and the asker of a run.
type roomPosters struct {
	host    *roomPoster
	senders []*roomPoster
	asker   *roomPoster
	st      *roomStats

	viewer, hostLines, questions int
	answers                      atomic.Int64
	pins                         int
	failed                       int // posts that could not be written (the connection was closed)
}

// text is a posted line's text: who, the time, a number.
func roomText(who byte, n int) string {
	return string(who) + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + " " + strconv.Itoa(n)
}

func newRoomPosters(ctx context.Context, c roomConfig, st *roomStats, wg *sync.WaitGroup) (*roomPosters, error) {
	ps := &roomPosters{st: st}
	dial := func(i int, token string) (*roomPoster, error) {
		conn, _, err := c.dialer(c.viewers+i).DialContext(ctx, withToken(c.nodeRoom(0, 0), token), nil)
		if err != nil {
			return nil, err
		}
		return &roomPoster{conn: conn, idx: i}, nil
	}
	var err error
	if ps.host, err = dial(0, c.token); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	wg.Go(func() {
		ps.host.read(ctx, func(id string, n int) {
			if ps.host.send(map[string]string{"type": "answer", "question_id": id, "text": roomText('a', n)}) == nil {
				ps.answers.Add(1)
			}
		})
	})
	for i := range c.senders {
		tok, err := floodToken(c.secret, "load-sender-"+strconv.Itoa(i), "viewer")
		if err != nil {
			return nil, err
		}
		s, err := dial(1+i, tok)
		if err != nil {
			return nil, fmt.Errorf("sender %d: %w", i, err)
		}
		s.idx = i
		ps.senders = append(ps.senders, s)
		wg.Go(func() { s.read(ctx, nil) })
	}
	if c.senders > 0 && c.questionEvery > 0 {
		tok, err := floodToken(c.secret, "load-asker", "viewer")
		if err != nil {
			return nil, err
		}
		if ps.asker, err = dial(1+c.senders, tok); err != nil {
			return nil, fmt.Errorf("asker: %w", err)
		}
		wg.Go(func() { ps.asker.read(ctx, nil) })
	}
	return ps, nil
}

// every returns a ticker channel at rate per second, or nil (never) for
// a rate of 0.
func every(rate float64) (<-chan time.Time, func()) {
	if rate <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	return t.C, t.Stop
}

// run posts for c.duration: the senders' lines in turn (or the host's at
// --rate without senders), the host's lines, questions and pins.
func (ps *roomPosters) run(ctx context.Context, c roomConfig) error {
	ps.st.began(time.Now())
	lineRate, hostRate := c.rate, c.hostRate
	if c.senders == 0 {
		lineRate, hostRate = 0, c.rate
	}
	lineC, stop1 := every(lineRate)
	defer stop1()
	hostC, stop2 := every(hostRate)
	defer stop2()
	var askC, pinC <-chan time.Time
	if ps.asker != nil {
		t := time.NewTicker(c.questionEvery)
		defer t.Stop()
		askC = t.C
	}
	if c.pinEvery > 0 {
		t := time.NewTicker(c.pinEvery)
		defer t.Stop()
		pinC = t.C
	}
	end := time.After(c.duration)
	next := 0
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-end:
			return nil
		case <-lineC:
			s := ps.senders[next%len(ps.senders)]
			next++
			if err = s.send(map[string]string{"type": "chat", "text": roomText('v', s.idx)}); err == nil {
				ps.viewer++
			}
		case <-hostC:
			if err = ps.host.send(map[string]string{"type": "chat", "text": roomText('h', 0)}); err == nil {
				ps.hostLines++
			}
		case <-askC:
			if err = ps.asker.send(map[string]string{"type": "question", "text": roomText('q', ps.questions)}); err == nil {
				ps.questions++
			}
		case <-pinC:
			pin := ""
			if ps.pins%2 == 0 {
				pin = c.sku
			}
			ps.pins++
			err = ps.host.send(map[string]string{"type": "pin", "sku": pin})
		}
		if err != nil {
			ps.failed++ // a poster the server closed (too slow to read) posts no more
		}
	}
}

// counts is what was posted, once the readers are done.
func (ps *roomPosters) counts() roomPosted {
	p := roomPosted{viewer: ps.viewer, host: ps.hostLines, questions: ps.questions, answers: int(ps.answers.Load())}
	p.failed = ps.failed
	p.refused = int(ps.host.refused.Load())
	if ps.asker != nil {
		p.refused += int(ps.asker.refused.Load())
	}
	for _, s := range ps.senders {
		p.refused += int(s.refused.Load())
		p.ownBack += int(s.ownBack.Load())
	}
	p.own = ps.viewer
	return p
}
