package server

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserLoginLogout drives a real headless Chromium through the login
// form: the welcome page appears, the HttpOnly session cookie is invisible
// to page scripts, and the logout button leads back to /login with the
// session gone. SESSIONMON_REQUIRE_BROWSER=1 (set in CI) turns a missing
// Chromium into a failure instead of a skip.
func TestBrowserLoginLogout(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := "headless browser test needs Debian's chromium at " + chromiumPath + " (apt-get install -y chromium): " + err.Error()
		if os.Getenv("SESSIONMON_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	e := newEnv(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // tests run as root
		chromedp.Flag("disable-background-networking", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Run starts the browser; it must not carry a timeout (that
	// would end the browser with it).
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browser, 20*time.Second)
	defer cancel()

	// A protected page sends the browser to the form.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
	); err != nil {
		t.Fatalf("open / and wait for the login form: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, e.ts.URL+"/login?next=") {
		t.Errorf("anonymous / landed on %s, want the login form with next", loc)
	}

	// Log in through the form.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), alice),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#welcome")),
	); err != nil {
		t.Fatalf("log in through the form: %v\nserver log:\n%s", err, e.logs.String())
	}
	welcome, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#welcome")))
	if err != nil {
		t.Fatal(err)
	}
	if welcome != "Welcome "+aliceName {
		t.Errorf("welcome heading = %q, want %q", welcome, "Welcome "+aliceName)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != e.ts.URL+"/" {
		t.Errorf("after login the browser is at %s, want %s/", loc, e.ts.URL)
	}

	// The session cookie is HttpOnly: page scripts cannot read it.
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cookies, "sessionid") {
		t.Errorf("document.cookie exposes the session cookie: %q", cookies)
	}

	// The stylesheet loaded under the CSP (the page is styled).
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("main")).backgroundColor`))
	if err != nil {
		t.Fatal(err)
	}
	if bg != "rgb(255, 255, 255)" {
		t.Errorf("main background = %q: the stylesheet did not apply", bg)
	}

	// Log out with the button.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
	); err != nil {
		t.Fatalf("log out with the button: %v\nserver log:\n%s", err, e.logs.String())
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != e.ts.URL+"/login" {
		t.Errorf("after logout the browser is at %s, want %s/login", loc, e.ts.URL)
	}

	// The session is over: the protected page sends the browser back.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
	); err != nil {
		t.Fatalf("open / after logout: %v", err)
	}
	active, err := e.mgr.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if active.Active != 0 {
		t.Errorf("%d sessions still active after logout", active.Active)
	}
}
