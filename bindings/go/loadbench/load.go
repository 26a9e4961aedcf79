package main

// The load generator: a fixed number of closed-loop workers, each with its
// own keep-alive HTTP connection, each checking every response.

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// requestTimeout bounds every request (a hung service fails the run
// instead of stalling it).
const requestTimeout = 30 * time.Second

// users is how many distinct user ids the workers cycle through.
const users = 1000

// target is one request a worker may send: its URL and the exact body a
// correct service answers with.
type target struct {
	url  string
	want []byte
}

// targets returns the requests of the service at base ("http://host:port").
func targets(base string) []target {
	out := make([]target, users)
	for i := range out {
		id := fmt.Sprintf("u%d", i)
		out[i] = target{
			url:  base + "/login?user=" + id,
			want: []byte(`{"user_id":"` + id + `","greeting":"Hello, ` + profileName(id) + `"}` + "\n"),
		}
	}
	return out
}

// loader drives one service with a fixed set of workers whose connections
// persist from one round to the next.
type loader struct {
	targets []target
	clients []*http.Client
}

func newLoader(base string, connections int) *loader {
	l := &loader{targets: targets(base)}
	for range connections {
		l.clients = append(l.clients, &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
			DisableCompression:  true,
		}})
	}
	return l
}

func (l *loader) close() {
	for _, c := range l.clients {
		c.CloseIdleConnections()
	}
}

// roundResult is what one round of load measured.
type roundResult struct {
	requests int             // answered correctly
	bad      int             // wrong status or body, or a transport error
	firstBad string          // the first of them
	elapsed  time.Duration   // from the start to the last worker's return
	latency  []time.Duration // of the correct answers, sorted
}

func (r *roundResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// percentile returns the q-quantile (0 ≤ q ≤ 1) of the latencies.
func (r *roundResult) percentile(q float64) time.Duration {
	if len(r.latency) == 0 {
		return 0
	}
	i := int(q * float64(len(r.latency)-1))
	return r.latency[i]
}

// run keeps every worker sending requests, one at a time, for d; each
// worker finishes the request it is in, so nothing is cut off.
func (l *loader) run(d time.Duration) roundResult {
	type workerResult struct {
		latency  []time.Duration
		bad      int
		firstBad string
	}
	results := make([]workerResult, len(l.clients))
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for w, client := range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			res.latency = make([]time.Duration, 0, 1024)
			var body bytes.Buffer
			// Workers start on different users and stride through them.
			next := w * 7919
			for {
				t := l.targets[next%len(l.targets)]
				next++
				begin := time.Now()
				problem := get(client, t, &body)
				now := time.Now()
				if problem != "" {
					if res.bad == 0 {
						res.firstBad = problem
					}
					res.bad++
				} else {
					res.latency = append(res.latency, now.Sub(begin))
				}
				if !now.Before(end) {
					return
				}
			}
		}()
	}
	wg.Wait()
	out := roundResult{elapsed: time.Since(start)}
	for _, res := range results {
		out.requests += len(res.latency)
		out.latency = append(out.latency, res.latency...)
		if res.bad > 0 && out.bad == 0 {
			out.firstBad = res.firstBad
		}
		out.bad += res.bad
	}
	slices.Sort(out.latency)
	return out
}

// get sends one request and checks its answer: "" if it is 200 with the
// expected body, else what is wrong.
func get(client *http.Client, t target, body *bytes.Buffer) string {
	resp, err := client.Get(t.url)
	if err != nil {
		return err.Error()
	}
	body.Reset()
	_, err = body.ReadFrom(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Sprintf("GET %s: reading the body: %v", t.url, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("GET %s: %s: %q", t.url, resp.Status, body.Bytes())
	case !bytes.Equal(body.Bytes(), t.want):
		return fmt.Sprintf("GET %s: body %q, want %q", t.url, body.Bytes(), t.want)
	}
	return ""
}
