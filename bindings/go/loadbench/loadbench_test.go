package main

// Correctness of both variants of the service, in one process (the
// benchmark's own run checks every response too; this runs under -race
// and the strict cgo checks with the rest of the suite). Nothing timed is
// asserted.

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startBackend serves the backend on loopback until the test ends.
func startBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveBackend(ln) }()
	t.Cleanup(func() {
		ln.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("backend: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("backend did not stop")
		}
	})
	return ln.Addr().String()
}

// services starts both variants against one backend, returning their
// base URLs.
func services(t *testing.T, backendAddr string) (lib, pure string) {
	t.Helper()
	p := newPool(backendAddr, 8)
	t.Cleanup(p.close)
	c, err := newLibContext(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	libSrv := httptest.NewServer(libLogin(c, false))
	t.Cleanup(libSrv.Close)
	goSrv := httptest.NewServer(goLogin(p))
	t.Cleanup(goSrv.Close)
	return libSrv.URL, goSrv.URL
}

// TestEveryResponseIsRight: under concurrent load, both variants answer
// every request with 200 and the exact expected Session.
func TestEveryResponseIsRight(t *testing.T) {
	lib, pure := services(t, startBackend(t))
	const connections = 8
	for name, base := range map[string]string{variantLib: lib, variantGo: pure} {
		l := newLoader(base, connections)
		r := l.run(50 * time.Millisecond)
		l.close()
		if r.bad != 0 {
			t.Errorf("%s: %d wrong responses, the first: %s", name, r.bad, r.firstBad)
		}
		// Each worker sends at least one request before it looks at the clock.
		if r.requests < connections {
			t.Errorf("%s: %d correct responses, want at least %d", name, r.requests, connections)
		}
	}
}

// TestBothVariantsAgree: the same request gets the same body from both,
// and it is the Session the library builds.
func TestBothVariantsAgree(t *testing.T) {
	lib, pure := services(t, startBackend(t))
	const want = `{"user_id":"ada","greeting":"Hello, User ada"}` + "\n"
	for _, base := range []string{lib, pure} {
		status, body := fetch(t, base+"/login?user=ada")
		if status != http.StatusOK || body != want {
			t.Errorf("%s: %d %q, want 200 %q", base, status, body, want)
		}
		if status, _ := fetch(t, base+"/login"); status != http.StatusBadRequest {
			t.Errorf("%s without a user: %d, want 400", base, status)
		}
	}
}

// TestBackendDown: a failed round trip is a 502 in both variants, with
// the library's text in the lib one.
func TestBackendDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	lib, pure := services(t, addr)
	for _, base := range []string{lib, pure} {
		status, body := fetch(t, base+"/login?user=ada")
		if status != http.StatusBadGateway || !strings.Contains(body, "backend:") {
			t.Errorf("%s: %d %q, want 502 with the backend's error", base, status, body)
		}
		if base == lib && !strings.HasPrefix(body, "login: host fetch failed: backend:") {
			t.Errorf("lib: %q, want the library's text", body)
		}
	}
}

func TestParseProfile(t *testing.T) {
	p, err := parseProfile([]byte("u1\t36\tAda"))
	if err != nil || p.UserID != "u1" || p.Age != 36 || p.Name != "Ada" {
		t.Errorf("parseProfile: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "u1", "u1\t36", "u1\tx\tAda"} {
		if _, err := parseProfile([]byte(bad)); err == nil {
			t.Errorf("parseProfile(%q): no error", bad)
		}
	}
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
