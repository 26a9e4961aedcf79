package designbench

/*
#cgo LDFLAGS: -ldemo -lpthread
#include <stdint.h>

int dbb_c_login(uint64_t n, int use_worker, uint64_t spin_us);
int dbb_c_pingpong(uint64_t n);
*/
import "C"

import "errors"

// The baselines of the Go round trip, measured in the same process and run
// (docs/go.md, "Performance"):
//
//   - CLogin: a C host does what BenchmarkLogin does — n logins one at a
//     time through demo_call, each awaiting fetch_profile implemented in C
//     — completing the host call inline on the library's loop thread, or
//     from a worker thread the host fn wakes (as the Go runtime's
//     dispatcher wakes a goroutine);
//   - CPingPong: two C threads pass a turn back and forth n times through a
//     condvar, two OS wake-ups per round trip, and nothing else.

// CLogin makes n logins from a C host (worker: completed by a worker
// thread, else inline), with the library's spin_us.
func CLogin(n int, worker bool, spinUS uint64) error {
	w := C.int(0)
	if worker {
		w = 1
	}
	if C.dbb_c_login(C.uint64_t(n), w, C.uint64_t(spinUS)) != 0 {
		return errors.New("designbench: a C host login failed")
	}
	return nil
}

// CPingPong passes a turn between two C threads n times.
func CPingPong(n int) error {
	if C.dbb_c_pingpong(C.uint64_t(n)) != 0 {
		return errors.New("designbench: could not start the C thread")
	}
	return nil
}
