package demo_test

import (
	"sync"
	"testing"

	"github.com/hostcall/hostcall/bindings/go/demo"
)

// recorder collects events; listeners run on the dispatcher goroutine.
type recorder struct {
	mu     sync.Mutex
	events []demo.Progress
}

func (r *recorder) record(p demo.Progress) {
	r.mu.Lock()
	r.events = append(r.events, p)
	r.mu.Unlock()
}

func (r *recorder) take() []demo.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// checkProgress wants done = 1..n in order, each with total n.
func checkProgress(t *testing.T, got []demo.Progress, n int) {
	t.Helper()
	checkProgressOf(t, got, n, n)
}

// checkProgressOf wants done = 1..n in order, each with total total.
func checkProgressOf(t *testing.T, got []demo.Progress, n, total int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d progress events, want %d", len(got), n)
	}
	for i, p := range got {
		if want := (demo.Progress{Done: uint32(i + 1), Total: uint32(total)}); p != want {
			t.Fatalf("event %d = %+v, want %+v", i, p, want)
		}
	}
}

func TestProgressEvents(t *testing.T) {
	c := withStore(t)
	var first, second recorder
	unsubscribeFirst := c.OnProgress(first.record)
	unsubscribeSecond := c.OnProgress(second.record)
	defer unsubscribeSecond()

	for _, n := range []int{1, 10, 1000} {
		if _, err := c.LoginMany(bounded(t), ids("p", n)); err != nil {
			t.Fatal(err)
		}
		// Events are delivered before the reply of the call that emitted
		// them (one dispatcher, in order), so they are all here now.
		checkProgress(t, first.take(), n)
		checkProgress(t, second.take(), n)
	}

	unsubscribeFirst()
	unsubscribeFirst() // twice is fine
	if _, err := c.LoginMany(bounded(t), ids("q", 50)); err != nil {
		t.Fatal(err)
	}
	if got := first.take(); len(got) != 0 {
		t.Errorf("an unsubscribed listener got %d events", len(got))
	}
	checkProgress(t, second.take(), 50) // the events were emitted
}

// TestUnsubscribeFromInsideListener: a listener may unsubscribe itself, and
// events already queued for it are not delivered afterwards.
func TestUnsubscribeFromInsideListener(t *testing.T) {
	c := withStore(t)
	const keep = 3
	var got []demo.Progress // only the dispatcher goroutine touches it until LoginMany returns
	var unsubscribe func()
	ready := make(chan struct{})
	unsubscribe = c.OnProgress(func(p demo.Progress) {
		<-ready
		got = append(got, p)
		if len(got) == keep {
			unsubscribe()
		}
	})
	close(ready)
	if _, err := c.LoginMany(bounded(t), ids("u", 100)); err != nil {
		t.Fatal(err)
	}
	checkProgressOf(t, got, keep, 100)
}

// TestEventsOfConcurrentCalls: each call's events are in order, whatever
// the interleaving between calls.
func TestEventsOfConcurrentCalls(t *testing.T) {
	c := withStore(t)
	const calls, n = 8, 200
	var mu sync.Mutex
	lastDone := map[uint32]uint32{} // by total: every call has a distinct total
	var outOfOrder []demo.Progress
	unsubscribe := c.OnProgress(func(p demo.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Done != lastDone[p.Total]+1 {
			outOfOrder = append(outOfOrder, p)
		}
		lastDone[p.Total] = p.Done
	})
	defer unsubscribe()
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.LoginMany(bounded(t), ids("c", n+i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(outOfOrder) > 0 {
		t.Errorf("events out of order within a call: %+v", outOfOrder[:min(len(outOfOrder), 5)])
	}
	for i := range calls {
		if got := lastDone[uint32(n+i)]; got != uint32(n+i) {
			t.Errorf("call with %d ids: last done = %d", n+i, got)
		}
	}
}
