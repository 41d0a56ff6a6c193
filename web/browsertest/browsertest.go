// Package browsertest runs livecart's pages in a real headless Chromium for
// tests: one browser per test (Start), isolated tabs (Browser.NewTab), and
// helpers that wait, click, type, evaluate JavaScript, collect console errors
// and uncaught exceptions, and save screenshots as test artifacts.
//
// It is imported by tests only. Every helper reports failure on the testing.TB
// it was given and stops the test (Fatal), so test code reads as a script.
//
// The browser is Debian's chromium: $CHROMIUM, or /usr/bin/chromium. When it
// is missing the test is skipped with a message, except under CI (CI set to
// anything but "" or "false"), where it fails: a CI run must not go green by
// skipping its browser tests.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// DefaultTimeout bounds each wait of a Tab unless Tab.Timeout is changed. It
// is generous on purpose: a wait that succeeds returns as soon as its
// condition holds, and a slow CI machine must not fail a correct test.
const DefaultTimeout = 45 * time.Second

// Browser is one headless Chromium process. Its methods may be called from the
// test's goroutine; each Tab is used by one goroutine at a time.
type Browser struct {
	ctx       context.Context
	artifacts string
}

// ExecPath returns the Chromium binary the harness launches: $CHROMIUM, or
// /usr/bin/chromium.
func ExecPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// inCI reports whether the test runs under continuous integration.
func inCI() bool {
	v := strings.TrimSpace(strings.ToLower(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// Start launches Chromium for the test and stops it at the test's end. A
// missing browser skips the test outside CI and fails it under CI.
func Start(tb testing.TB) *Browser {
	tb.Helper()
	path := ExecPath()
	if _, err := exec.LookPath(path); err != nil {
		msg := fmt.Sprintf("browsertest: no Chromium at %s (set $CHROMIUM or apt-get install chromium): %v", path, err)
		if inCI() {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium refuses to start as root with its sandbox.
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(420, 860),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		tb.Fatalf("browsertest: starting %s: %v", path, err)
	}
	tb.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return &Browser{ctx: bctx, artifacts: ArtifactDir(tb)}
}

// ArtifactDir returns the directory for this test's artifacts:
// $LIVECART_ARTIFACTS, or testdata/artifacts under the package being tested,
// then one folder per test. It is created on first use.
func ArtifactDir(tb testing.TB) string {
	root := os.Getenv("LIVECART_ARTIFACTS")
	if root == "" {
		root = filepath.Join("testdata", "artifacts")
	}
	return filepath.Join(root, safeName(tb.Name()))
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// Problem is one console error, failed load or uncaught exception of a tab.
type Problem struct {
	// Kind is "exception", "console" or "log".
	Kind string
	// Source is the log entry's source ("network", "javascript", "security",
	// …) for Kind "log"; empty otherwise.
	Source string
	Text   string
	URL    string
}

func (p Problem) String() string {
	s := p.Kind
	if p.Source != "" {
		s += "/" + p.Source
	}
	s += ": " + p.Text
	if p.URL != "" {
		s += " (" + p.URL + ")"
	}
	return s
}

// Tab is one page in its own browser context (own cookies, storage and
// cache), so two tabs act as two different people. Its helpers stop the test
// on failure.
type Tab struct {
	// Timeout bounds each wait; DefaultTimeout unless changed.
	Timeout time.Duration

	tb        testing.TB
	ctx       context.Context
	name      string
	artifacts string

	mu       sync.Mutex
	problems []Problem
	shots    int
}

// TabOption configures NewTab.
type TabOption func(*tabConfig)

type tabConfig struct {
	shared bool
	name   string
}

// SharedContext makes the tab share cookies and storage with the browser's
// default context instead of getting a fresh one.
func SharedContext() TabOption { return func(c *tabConfig) { c.shared = true } }

// Named names the tab in screenshots and messages (default "tab1", "tab2"…).
func Named(name string) TabOption { return func(c *tabConfig) { c.name = name } }

var tabSeq struct {
	sync.Mutex
	n int
}

// NewTab opens a tab that lives until the end of the test. When the test
// fails, the tab saves a screenshot and logs its problems before closing.
func (b *Browser) NewTab(tb testing.TB, opts ...TabOption) *Tab {
	tb.Helper()
	var cfg tabConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.name == "" {
		tabSeq.Lock()
		tabSeq.n++
		cfg.name = fmt.Sprintf("tab%d", tabSeq.n)
		tabSeq.Unlock()
	}
	t := &Tab{Timeout: DefaultTimeout, tb: tb, name: cfg.name, artifacts: b.artifacts}
	copts := []chromedp.ContextOption{chromedp.WithListener(t.listen)}
	if !cfg.shared {
		copts = append(copts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(b.ctx, copts...)
	t.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	})); err != nil {
		cancel()
		tb.Fatalf("browsertest: opening %s: %v", t.name, err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			t.saveScreenshot("failure")
			for _, p := range t.Problems() {
				tb.Logf("%s: %s", t.name, p)
			}
		}
		cancel()
	})
	return t
}

// listen runs on chromedp's reader goroutine: it only records.
func (t *Tab) listen(ev any) {
	var p Problem
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		p = Problem{Kind: "exception", Text: d.Text, URL: d.URL}
		if d.Exception != nil && d.Exception.Description != "" {
			p.Text += " " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range e.Args {
			switch {
			case a.Description != "":
				parts = append(parts, a.Description)
			case len(a.Value) > 0:
				parts = append(parts, string(a.Value))
			default:
				parts = append(parts, string(a.Type))
			}
		}
		p = Problem{Kind: "console", Text: strings.Join(parts, " ")}
	case *cdplog.EventEntryAdded:
		if e.Entry == nil || e.Entry.Level != cdplog.EntryLevelError {
			return
		}
		p = Problem{Kind: "log", Source: string(e.Entry.Source), Text: e.Entry.Text, URL: e.Entry.URL}
	default:
		return
	}
	t.mu.Lock()
	t.problems = append(t.problems, p)
	t.mu.Unlock()
}

// Context returns the tab's chromedp context, for actions the helpers do not
// cover. Do not set a deadline on it directly; derive one.
func (t *Tab) Context() context.Context { return t.ctx }

// Name returns the tab's name.
func (t *Tab) Name() string { return t.name }

func (t *Tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, t.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.tb.Fatalf("%s: %s: %v", t.name, what, err)
	}
}

// Navigate loads url and waits for the load event.
func (t *Tab) Navigate(url string) {
	t.tb.Helper()
	t.do("navigate to "+url, chromedp.Navigate(url))
}

// WaitVisible waits until the first element matching the CSS selector is
// visible.
func (t *Tab) WaitVisible(sel string) {
	t.tb.Helper()
	t.do("wait for "+sel+" to be visible", chromedp.WaitVisible(chromedp.CSS(sel)))
}

// WaitGone waits until no element matches the CSS selector or the first one
// is hidden.
func (t *Tab) WaitGone(sel string) {
	t.tb.Helper()
	t.WaitFunc(fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !e || e.hidden || e.offsetParent === null; })()`, jsString(sel)),
		"wait for "+sel+" to be gone")
}

// WaitText waits until some element matching the CSS selector has text
// (textContent) containing want.
func (t *Tab) WaitText(sel, want string) {
	t.tb.Helper()
	t.WaitFunc(fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).some(e => e.textContent.includes(%s))`, jsString(sel), jsString(want)),
		fmt.Sprintf("wait for %s to contain %q", sel, want))
}

// WaitFunc waits until the JavaScript expression is truthy.
func (t *Tab) WaitFunc(expr, what string) {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, t.Timeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(t.Timeout)))
	if err != nil {
		t.tb.Fatalf("%s: %s: %v", t.name, what, err)
	}
}

// Text returns the textContent of the first element matching the selector.
func (t *Tab) Text(sel string) string {
	t.tb.Helper()
	var s string
	t.Eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) throw new Error("no element " + %[1]s); return e.textContent; })()`, jsString(sel)), &s)
	return s
}

// Click clicks the first element matching the selector once it is visible.
func (t *Tab) Click(sel string) {
	t.tb.Helper()
	t.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Type focuses the element matching the selector and types text into it.
func (t *Tab) Type(sel, text string) {
	t.tb.Helper()
	t.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// SetValue sets an input's value and fires its input event.
func (t *Tab) SetValue(sel, value string) {
	t.tb.Helper()
	t.Eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.value = %s; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`,
		jsString(sel), jsString(value)), nil)
}

// Eval evaluates a JavaScript expression, awaiting it when it is a promise,
// and decodes its JSON value into out (which may be nil). A thrown error or a
// rejected promise fails the test.
func (t *Tab) Eval(expr string, out any) {
	t.tb.Helper()
	if err := t.TryEval(expr, out); err != nil {
		t.tb.Fatalf("%s: eval %s: %v", t.name, shorten(expr), err)
	}
}

// TryEval is Eval returning the error instead of failing the test.
func (t *Tab) TryEval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.Timeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		var ee *chromedp.ExceptionError
		if errors.As(err, &ee) && ee.ExceptionDetails != nil && ee.ExceptionDetails.Exception != nil {
			return fmt.Errorf("%s", ee.ExceptionDetails.Exception.Description)
		}
		return err
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return jsonUnmarshal(raw, out)
}

// Problems returns what the tab has recorded so far: uncaught exceptions,
// console.error calls and error log entries (failed loads, CSP violations).
func (t *Tab) Problems() []Problem {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Problem(nil), t.problems...)
}

// ResetProblems forgets the problems recorded so far.
func (t *Tab) ResetProblems() {
	t.mu.Lock()
	t.problems = nil
	t.mu.Unlock()
}

// ExpectNoProblems fails the test when the tab recorded a problem that no
// ignore func accepts.
func (t *Tab) ExpectNoProblems(ignore ...func(Problem) bool) {
	t.tb.Helper()
outer:
	for _, p := range t.Problems() {
		for _, ig := range ignore {
			if ig(p) {
				continue outer
			}
		}
		t.tb.Errorf("%s: unexpected %s", t.name, p)
	}
}

// Screenshot saves a PNG of the viewport as an artifact and returns its
// path. Failing to save is logged, not fatal.
func (t *Tab) Screenshot(label string) string {
	t.tb.Helper()
	return t.saveScreenshot(label)
}

func (t *Tab) saveScreenshot(label string) string {
	t.mu.Lock()
	t.shots++
	n := t.shots
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.tb.Logf("%s: screenshot %q: %v", t.name, label, err)
		return ""
	}
	if err := os.MkdirAll(t.artifacts, 0o755); err != nil {
		t.tb.Logf("%s: screenshot %q: %v", t.name, label, err)
		return ""
	}
	path := filepath.Join(t.artifacts, fmt.Sprintf("%s-%02d-%s.png", safeName(t.name), n, safeName(label)))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.tb.Logf("%s: screenshot %q: %v", t.name, label, err)
		return ""
	}
	t.tb.Logf("%s: screenshot %s", t.name, path)
	return path
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsonUnmarshal(raw []byte, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding %s: %w", shorten(string(raw)), err)
	}
	return nil
}

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}
