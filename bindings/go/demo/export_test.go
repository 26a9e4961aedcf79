package demo

// PendingCalls is how many of c's calls wait for a reply, for the tests
// that check nothing is left behind.
func PendingCalls(c *Context) int { return c.rt.PendingCalls() }
