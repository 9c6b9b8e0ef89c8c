package projections

// Running reports whether Run is running now. A Runner that stopped at an
// event it cannot apply, or whose Source failed, is not running until Run
// is called again. Safe for concurrent use.
func (r *Runner) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}
