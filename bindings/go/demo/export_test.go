package demo

// PendingCalls is how many of c's calls wait for a reply, for the tests
// that check nothing is left behind.
func PendingCalls(c *Context) int { return c.rt.PendingCalls() }

// NewWithConfig creates a Context from a raw config map, which only the
// library checks (New refuses an option's bad value itself): for the tests
// of the library's refusals.
func NewWithConfig(config map[string]any) (*Context, error) { return open(config) }

// TrackedRequests is how many of c's requests are tracked for their host
// calls' contexts, how many host calls are parked waiting for theirs, and
// how many ever were.
func TrackedRequests(c *Context) (tracked, parked int, parkedEver uint64) {
	return c.rt.TrackedRequests()
}
