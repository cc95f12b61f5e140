package demo_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

// checkStatusPage opens the link the demo ends with, as a browser would:
// the token signs in (a cookie and a redirect to /) and the page lists
// every log type.
func checkStatusPage(t *testing.T, link string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatalf("status page %s: %v", link, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	page := string(body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.RawQuery != "" ||
		!strings.Contains(page, `data-log-type="user_action"`) || !strings.Contains(page, `data-log-type="seller_action"`) {
		t.Errorf("status page %s = %s at %s:\n%s\nwant 200 at / listing every log type", link, resp.Status, resp.Request.URL, page)
	}
}
