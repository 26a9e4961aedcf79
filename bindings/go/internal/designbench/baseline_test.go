package designbench

import "testing"

// The same-process baselines of BenchmarkLogin (bindings/go/demo): what a C
// host pays for the same round trip, and what the wake-ups alone cost.

// BenchmarkBaselineCLogin: a C host's login round trip, the host call
// completed inline on the loop thread, or by a worker thread (the Go
// binding's shape), with the library's spin on (50 µs) and off.
func BenchmarkBaselineCLogin(b *testing.B) {
	for _, c := range []struct {
		name   string
		worker bool
		spin   uint64
	}{{"inline", false, 50}, {"worker", true, 50}, {"workerNoSpin", true, 0}} {
		b.Run(c.name, func(b *testing.B) {
			if err := CLogin(b.N, c.worker, c.spin); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkBaselineCPingPong: one round trip between two C threads blocked
// on condvars (two OS wake-ups).
func BenchmarkBaselineCPingPong(b *testing.B) {
	if err := CPingPong(b.N); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBaselineChanPingPong: one round trip between two goroutines over
// unbuffered channels (two goroutine wake-ups, which the Go scheduler may
// serve without an OS wake-up).
func BenchmarkBaselineChanPingPong(b *testing.B) {
	ping, pong := make(chan struct{}), make(chan struct{})
	go func() {
		for range ping {
			pong <- struct{}{}
		}
	}()
	defer close(ping)
	for range b.N {
		ping <- struct{}{}
		<-pong
	}
}

func TestBaselines(t *testing.T) {
	for _, worker := range []bool{false, true} {
		if err := CLogin(3, worker, 50); err != nil {
			t.Errorf("worker %v: %v", worker, err)
		}
	}
	if err := CPingPong(3); err != nil {
		t.Error(err)
	}
}
