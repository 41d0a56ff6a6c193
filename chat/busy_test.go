package chat

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// Busy rooms (contract section 6): the line budget per viewer, the lines
// never dropped, fairness across senders, recovery, and the frames shared
// by the viewers of a tick.

var roleOfRank = map[auth.Rank]auth.Role{
	auth.RankViewer: auth.Viewer, auth.RankModerator: auth.Moderator, auth.RankHost: auth.Host, auth.RankAdmin: auth.Admin,
}

// postAs publishes a line of typ by sub, of rank in the room, as any node
// of the room does; it returns the publication as delivered.
func (rm *room) postAs(tb testing.TB, stream, typ, sub string, rank auth.Rank, text, questionID string) Publication {
	tb.Helper()
	l := line{Type: typ, ID: newID(), QuestionID: questionID, User: User{Sub: sub, Name: "N-" + sub, Role: roleOfRank[rank]}, Text: text, TS: timestamp(time.Now())}
	p, err := rm.cfg.Broker.Publish(tb.Context(), stream, Publication{Kind: KindEvent, Key: lineKey(typ, l.ID, rank), Data: encode(l)}, true, rm.cfg.HistorySize)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// collect reads messages until done is true of one (included), failing
// the test after wait.
func (c *wsc) collect(done func(msg) bool) []msg {
	c.tb.Helper()
	var got []msg
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		select {
		case m := <-c.msgs:
			got = append(got, m)
			if done(m) {
				return got
			}
		case <-timeout.C:
			c.tb.Fatalf("not done within %v; %d messages read", wait, len(got))
			return got
		}
	}
}

// lineCount counts the chat lines and questions in msgs and sums their
// skipped counts.
func lineCount(msgs []msg) (lines, skipped int) {
	for _, m := range msgs {
		switch m.str("type") {
		case typeChat, typeQuestion, typeAnswer:
			lines++
		case typeSkipped:
			skipped += int(m.num("count"))
		}
	}
	return lines, skipped
}

// Under a flood every viewer receives at most the budget of lines a
// second; the rest are counted in skipped messages, so that what a viewer
// receives and what it is told it missed add up to every line.
func TestBusyRoomBudgetPerViewer(t *testing.T) {
	const budget, senders, rounds = 8, 40, 10
	rm := mustRoom(t, nil, Config{LineBudget: budget, HistorySize: 1000})
	viewers := []*wsc{
		rm.dial(t, "s1", "", nil),
		rm.dial(t, "s1", "", nil),
		rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil),
	}
	start := time.Now()
	for r := range rounds {
		for s := range senders {
			rm.postAs(t, "s1", typeChat, "f"+strconv.Itoa(s), auth.RankViewer, "round "+strconv.Itoa(r), "")
		}
		time.Sleep(100 * time.Millisecond)
	}
	rm.waitTicked(t, "s1")
	// Every line went out within this time, so at most the budget in
	// each of its whole seconds.
	limit := budget * int(math.Ceil(time.Since(start).Seconds()))
	for i, v := range viewers {
		lines, skipped := 0, 0
		v.collect(func(m msg) bool {
			l, s := lineCount([]msg{m})
			lines, skipped = lines+l, skipped+s
			return lines+skipped >= senders*rounds
		})
		if lines+skipped != senders*rounds {
			t.Errorf("viewer %d: %d lines received and %d skipped, want %d in all", i, lines, skipped, senders*rounds)
		}
		if lines > limit || lines == 0 {
			t.Errorf("viewer %d received %d of %d lines, want 1 to %d (%d a second)", i, lines, senders*rounds, limit, budget)
		}
		if skipped == 0 {
			t.Errorf("viewer %d was told of no skipped lines", i)
		}
	}
}

// In a flood, what is never dropped all arrives, in order: the lines of
// the host and moderators, answers, the viewer's own lines, every
// question for staff, orders, deletions, the card and the latest stock.
func TestBusyRoomNeverDropped(t *testing.T) {
	rm := mustRoom(t, nil, Config{HistorySize: 5000})
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	mod := rm.dial(t, "s1", mustToken(t, auth.Moderator, "mo", "s1"), nil)
	ana := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	anon := rm.dial(t, "s1", "", nil)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var questions []string // ids of the flood's questions
	var victim string      // a flood line the host deletes
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			typ := typeChat
			if i%4 == 3 {
				typ = typeQuestion
			}
			p := rm.postAs(t, "s1", typ, "f"+strconv.Itoa(i%30), auth.RankViewer, "flood "+strconv.Itoa(i), "")
			mu.Lock()
			if typ == typeQuestion {
				questions = append(questions, msg(decode(t, p.Data)).str("id"))
			} else if victim == "" {
				victim = msg(decode(t, p.Data)).str("id")
			}
			mu.Unlock()
			if i%30 == 29 {
				time.Sleep(30 * time.Millisecond) // about 1,000 lines a second
			}
		}
	})
	time.Sleep(200 * time.Millisecond)
	q := rm.postAs(t, "s1", typeQuestion, "asker", auth.RankViewer, "does it come in blue?", "")
	qid := msg(decode(t, q.Data)).str("id")
	var want []string // never dropped, in the order sent
	for i := range 5 {
		host.send(map[string]any{"type": "chat", "text": "host " + strconv.Itoa(i)})
		want = append(want, "host "+strconv.Itoa(i))
		if i < 3 {
			mod.send(map[string]any{"type": "chat", "text": "mod " + strconv.Itoa(i)})
			ana.send(map[string]any{"type": "chat", "text": "ana " + strconv.Itoa(i)})
		}
		time.Sleep(20 * time.Millisecond)
	}
	host.send(map[string]any{"type": "answer", "question_id": qid, "text": "yes, in blue"})
	for i := range 3 {
		rm.OrderPlaced("s1", "mug", i+1, "Buyer "+strconv.Itoa(i))
	}
	for i := 1; i <= 20; i++ {
		rm.StockChanged("s1", "mug", i)
	}
	rm.ProductCard("s1", json.RawMessage(`{"sku":"mug","name":"Mug"}`))
	mu.Lock()
	del := victim
	mu.Unlock()
	host.send(map[string]any{"type": "delete", "id": del})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	// The host receives everything never dropped; once it has, a last
	// host line closes the run for everyone.
	seen := map[string]bool{}
	host.collect(func(m msg) bool {
		switch typ := m.str("type"); {
		case typ == typeStock && m.num("stock") == 20, typ == typeDeleted, typ == typeProduct, typ == typeAnswer:
			seen[typ] = true
		case typ == typeOrder && m.str("buyer") == "Buyer 2":
			seen[typ] = true
		}
		return len(seen) == 5
	})
	host.send(map[string]any{"type": "chat", "text": "the end"})

	for _, c := range []struct {
		name  string
		c     *wsc
		staff bool
		own   string
	}{{"anonymous viewer", anon, false, ""}, {"ana", ana, false, "ana "}, {"moderator", mod, true, ""}} {
		got := c.c.collect(func(m msg) bool { return m.str("type") == typeChat && m.str("text") == "the end" })
		var texts []string
		var own, orders, answers, products, deletes, skipped int
		var lastStock float64
		seenQ := map[string]bool{}
		var prev float64
		for _, m := range got {
			if off := m.num("offset"); off != 0 {
				if off <= prev {
					t.Errorf("%s: offset %v after %v", c.name, off, prev)
				}
				prev = off
			}
			text := m.str("text")
			switch m.str("type") {
			case typeChat:
				if strings.HasPrefix(text, "host ") {
					texts = append(texts, text)
				}
				if strings.HasPrefix(text, "mod ") {
					texts = append(texts, text)
				}
				if c.own != "" && strings.HasPrefix(text, c.own) {
					own++
				}
			case typeQuestion:
				seenQ[m.str("id")] = true
			case typeAnswer:
				answers++
			case typeOrder:
				orders++
			case typeProduct:
				products++
			case typeDeleted:
				deletes++
			case typeStock:
				lastStock = m.num("stock")
			case typeSkipped:
				skipped += int(m.num("count"))
			}
		}
		hostLines := filter(texts, "host ")
		if strings.Join(hostLines, ",") != strings.Join(want, ",") {
			t.Errorf("%s: host lines %q, want %q", c.name, hostLines, want)
		}
		if modLines := filter(texts, "mod "); strings.Join(modLines, ",") != "mod 0,mod 1,mod 2" {
			t.Errorf("%s: moderator lines %q, want mod 0 to mod 2", c.name, modLines)
		}
		if c.own != "" && own != 3 {
			t.Errorf("%s: %d of its 3 own lines", c.name, own)
		}
		if answers != 1 || orders != 3 || products != 1 || deletes != 1 || lastStock != 20 {
			t.Errorf("%s: %d answers, %d orders, %d cards, %d deletions, last stock %v; want 1, 3, 1, 1, 20", c.name, answers, orders, products, deletes, lastStock)
		}
		if c.staff {
			mu.Lock()
			for _, id := range questions {
				if !seenQ[id] {
					t.Errorf("%s: question %s never arrived", c.name, id)
					break
				}
			}
			mu.Unlock()
		} else if skipped == 0 {
			t.Errorf("%s: no skipped lines: the flood did not exceed the budget", c.name)
		}
	}
}

func filter(s []string, prefix string) []string {
	var out []string
	for _, x := range s {
		if strings.HasPrefix(x, prefix) {
			out = append(out, x)
		}
	}
	return out
}

func decode(tb testing.TB, data []byte) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// One sender posting hundreds of lines a second does not take the budget
// from ten others posting twice a second each.
func TestBusyRoomFairAcrossSenders(t *testing.T) {
	rm := mustRoom(t, nil, Config{HistorySize: 5000})
	viewer := rm.dial(t, "s1", "", nil)
	const others = 10
	end := time.Now().Add(3 * time.Second)
	for n := 0; time.Now().Before(end); n++ {
		for range 10 {
			rm.postAs(t, "s1", typeChat, "flooder", auth.RankViewer, "flood", "")
		}
		if n%25 < others { // each other sender every 500 ms
			rm.postAs(t, "s1", typeChat, "v"+strconv.Itoa(n%25), auth.RankViewer, "hello", "")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rm.waitTicked(t, "s1")
	rm.postAs(t, "s1", typeChat, "host1", auth.RankHost, "the end", "")
	got := viewer.collect(func(m msg) bool { return m.str("text") == "the end" })
	by := map[string]int{}
	for _, m := range got {
		if m.str("type") == typeChat && m.str("text") != "the end" {
			by[m.obj("user").str("sub")]++
		}
	}
	total, served := 0, 0
	for s, n := range by {
		total += n
		if s != "flooder" && n > 0 {
			served++
		}
	}
	if share := float64(total) / (others + 1); float64(by["flooder"]) > 2*share {
		t.Errorf("the flooder got %d of %d lines, want at most twice its share (%.1f); all: %v", by["flooder"], total, share, by)
	}
	if served < others-1 {
		t.Errorf("%d of the %d other senders had a line through, want at least %d; all: %v", served, others, others-1, by)
	}
}

// Reconnecting after a drop returns every line missed since the last one
// received, in order, though a busy room sampled what was sent live.
func TestBusyRoomRecoveryReturnsEveryMissedLine(t *testing.T) {
	rm := mustRoom(t, nil, Config{HistorySize: 1000})
	v := rm.dial(t, "s1", "", nil)
	for i := range 100 {
		rm.postAs(t, "s1", typeChat, "f"+strconv.Itoa(i%20), auth.RankViewer, "live "+strconv.Itoa(i), "")
	}
	got := v.collect(func(m msg) bool {
		l, s := lineCount([]msg{m})
		return l+s > 0 && m.str("type") == typeSkipped
	})
	var last msg
	for _, m := range got {
		if m.num("offset") > last.num("offset") {
			last = m
		}
	}
	if last == nil {
		t.Fatal("no line arrived live")
	}
	v.conn.Close()
	var missed []Publication
	rm.postAs(t, "s1", typeChat, "host1", auth.RankHost, "after the drop", "")
	hist, _ := rm.cfg.Broker.History(t.Context(), "s1")
	for _, p := range hist.Pubs {
		if p.Offset > uint64(last.num("offset")) {
			missed = append(missed, p)
		}
	}
	for i := range 150 {
		missed = append(missed, rm.postAs(t, "s1", typeChat, "f"+strconv.Itoa(i%20), auth.RankViewer, "missed "+strconv.Itoa(i), ""))
	}
	back := rm.dial(t, "s1", "", url.Values{"since": {strconv.FormatFloat(last.num("offset"), 'f', 0, 64)}, "epoch": {last.str("epoch")}})
	if back.welcome["recovered"] != true {
		t.Fatalf("welcome = %v, want recovered", back.welcome)
	}
	for i, p := range missed {
		m := back.expectWhere(typeChat, func(msg) bool { return true })
		if m.num("offset") != float64(p.Offset) {
			t.Fatalf("missed line %d has offset %v, want %d (every missed line, in order)", i, m.num("offset"), p.Offset)
		}
	}
}

// A tick's shared frame is byte for byte what a viewer receives when the
// same messages are queued for it one by one and its writer coalesces
// them: for viewers (sampled lines, skipped count) and for staff.
func TestSharedFrameMatchesOneByOne(t *testing.T) {
	b := NewMemoryBroker()
	t.Cleanup(func() { b.Close() })
	cfg := Config{LineBudget: 20, HistorySize: 1000, Tick: 300 * time.Millisecond, ViewersEvery: time.Hour}
	shared := mustRoom(t, b, cfg)
	alone := mustRoom(t, b, cfg)
	alone.oneByOne = true
	modTok := mustToken(t, auth.Moderator, "mo", "s1")
	type pair struct {
		name         string
		shared, lone *wsc
	}
	pairs := []pair{
		{"viewer", shared.dialNoRead(t, "s1", "", nil, 0), alone.dialNoRead(t, "s1", "", nil, 0)},
		{"staff", shared.dialNoRead(t, "s1", modTok, nil, 0), alone.dialNoRead(t, "s1", modTok, nil, 0)},
	}
	for _, p := range pairs {
		for _, c := range []*wsc{p.shared, p.lone} {
			_ = c.conn.SetReadDeadline(time.Now().Add(wait))
			if _, data, err := c.conn.ReadMessage(); err != nil || !bytes.Contains(data, []byte(`"type":"welcome"`)) {
				t.Fatalf("first frame %s (%v), want the welcome", data, err)
			}
		}
	}
	// After a quiet tick, a first message goes out at once and starts a
	// tick on both nodes; the rest arrive within the next tick and go out
	// together.
	time.Sleep(cfg.Tick + 50*time.Millisecond)
	prime := shared.postAs(t, "s1", typeChat, "host1", auth.RankHost, "prime", "")
	shared.waitTicked(t, "s1")
	alone.waitTicked(t, "s1")
	for i := range 30 {
		typ := typeChat
		if i%5 == 4 {
			typ = typeQuestion
		}
		shared.postAs(t, "s1", typ, "f"+strconv.Itoa(i), auth.RankViewer, "line "+strconv.Itoa(i), "")
	}
	shared.postAs(t, "s1", typeChat, "host1", auth.RankHost, "from the host", "")
	for i := range 3 {
		data := encode(stockMsg{Type: typeStock, SKU: "mug", Stock: 10 - i})
		if _, err := b.Publish(t.Context(), "s1", Publication{Kind: KindState, Key: "stock:mug", Data: data}, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Publish(t.Context(), "s1", Publication{Kind: KindEvent, Key: "order", Data: encode(orderMsg{Type: typeOrder, SKU: "mug", Qty: 1, Buyer: "Ana"})}, true, 1000); err != nil {
		t.Fatal(err)
	}
	primeID := msg(decode(t, prime.Data)).str("id")
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			// Frames up to and including the prime, then the tick.
			skipTo := func(c *wsc) {
				for {
					_, data, err := c.conn.ReadMessage()
					if err != nil {
						t.Fatal(err)
					}
					if bytes.Contains(data, []byte(primeID)) {
						return
					}
				}
			}
			skipTo(p.shared)
			skipTo(p.lone)
			_, frame, err := p.shared.conn.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Count(frame, []byte{'\n'}) + 1
			t.Logf("the tick: %d messages, %d bytes", want, len(frame))
			var lone [][]byte
			for n := 0; n < want; {
				_, data, err := p.lone.conn.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				lone = append(lone, data)
				n += bytes.Count(data, []byte{'\n'}) + 1
			}
			if got := bytes.Join(lone, []byte{'\n'}); !bytes.Equal(got, frame) {
				t.Errorf("one by one:\n%s\nshared:\n%s", got, frame)
			}
			if !bytes.Contains(frame, []byte(`"type":"stock"`)) || !bytes.Contains(frame, []byte(`"type":"order"`)) {
				t.Errorf("the tick lacks the stock or the order: %s", frame)
			}
			if p.name == "viewer" && !bytes.Contains(frame, []byte(`"type":"skipped"`)) {
				t.Errorf("the viewers' tick has no skipped count: %s", frame)
			}
		})
	}
}
