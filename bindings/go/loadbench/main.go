// Command loadbench is a load benchmark of the Go bindings shaped like a
// real Go service: a net/http server on loopback whose GET /login calls
// the library's Login, whose host fn fetch_profile does one round trip to
// a backend (a loopback TCP server standing in for a database) through a
// connection pool; against the same service without the library, under
// one load generator, in the same run. It reports requests/s, latency
// percentiles and the server's CPU per request. See docs/loadbench.md.
//
// Run from bindings/go (CGO_CFLAGS and CGO_LDFLAGS as in docs/go.md):
//
//	go run ./loadbench                                   # 3 rounds of 5 s per variant
//	go run ./loadbench -duration 200ms -rounds 1 -warmup 100ms   # smoke
//
// One run is four processes, so that the server's CPU is its own: this
// one (the load generator), and three children it starts by running its
// own binary again with -child: the backend, and one server per variant
// (lib: with the library; go: pure Go). The variants are loaded in turn,
// ABBA order from round to round, with the same workers and connections.
// Every response is checked (status 200, the exact body); any wrong one
// makes the run exit with status 1.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hostcall/hostcall/bindings/go/demo"
)

func main() {
	var (
		duration    = flag.Duration("duration", 5*time.Second, "length of each measured round, per variant")
		rounds      = flag.Int("rounds", 3, "measured rounds (each loads every variant once)")
		warmup      = flag.Duration("warmup", time.Second, "unmeasured load per variant before the first round")
		connections = flag.Int("connections", 64, "HTTP connections (closed-loop workers) of the load generator")
		mode        = flag.String("mode", "lib,go", "variants to run, comma-separated: go, lib, lib-nospin (WithSpin(0)), lib-bg (Login with context.Background()), lib-nospin-bg")
		poolSize    = flag.Int("pool", 64, "backend connections each server's pool may open")
		spin        = flag.Duration("spin", -1, "the library's WithSpin in variants lib and lib-bg; negative: the library's default")
		libCtx      = flag.String("lib-ctx", "request", "internal: ctx the lib handler calls Login with: request (r.Context(), tracked) or background (plain entry point)")
		cpuProfile  = flag.String("cpuprofile", "", "write each server's Go CPU profile over the measured rounds to <prefix>-<variant>.pprof")

		child   = flag.String("child", "", "internal: run as the backend or server child")
		variant = flag.String("variant", "", "internal: the server child's variant")
		backend = flag.String("backend", "", "internal: the server child's backend address")
	)
	flag.Parse()
	var err error
	switch *child {
	case "":
		err = parent(config{
			duration: *duration, rounds: *rounds, warmup: *warmup,
			connections: *connections, mode: *mode, pool: *poolSize,
			spin: *spin, libCtx: *libCtx, cpuProfile: *cpuProfile,
		})
	case "backend":
		err = backendChild()
	case "server":
		err = serverChild(*variant, *backend, *poolSize, *spin, *libCtx)
	default:
		err = fmt.Errorf("unknown -child %q", *child)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// exitWithParent ends a child when its parent closes the child's stdin
// (or dies).
func exitWithParent() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}

func backendChild() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	exitWithParent()
	return serveBackend(ln)
}

// serverStats is what a server child reports on GET /ctl/stats.
type serverStats struct {
	CPU     time.Duration // the process's user + system CPU time
	Library time.Duration // of it, the library's threads ("hostcall-…")
	Conns   int64         // HTTP connections accepted
	Switch  int64         // context switches of its threads
}

// serverArgs are the server child's flags for a variant of -mode.
func serverArgs(name string, spin time.Duration) ([]string, error) {
	nospin := (0 * time.Second).String()
	switch name {
	case variantGo:
		return []string{"-variant", variantGo}, nil
	case variantLib:
		return []string{"-variant", variantLib, "-spin", spin.String()}, nil
	case "lib-nospin":
		return []string{"-variant", variantLib, "-spin", nospin}, nil
	case "lib-bg":
		return []string{"-variant", variantLib, "-spin", spin.String(), "-lib-ctx", "background"}, nil
	case "lib-nospin-bg":
		return []string{"-variant", variantLib, "-spin", nospin, "-lib-ctx", "background"}, nil
	}
	return nil, fmt.Errorf("-mode: unknown variant %q (want go, lib, lib-nospin, lib-bg or lib-nospin-bg)", name)
}

func serverChild(variant, backendAddr string, poolSize int, spin time.Duration, libCtx string) error {
	p := newPool(backendAddr, poolSize)
	mux := http.NewServeMux()
	switch variant {
	case variantLib:
		var opts []demo.Option
		if spin >= 0 {
			opts = append(opts, demo.WithSpin(spin))
		}
		c, err := newLibContext(p, opts...)
		if err != nil {
			return err
		}
		defer c.Close()
		if libCtx != "request" && libCtx != "background" {
			return fmt.Errorf("-lib-ctx %q: want request or background", libCtx)
		}
		mux.Handle("GET /login", libLogin(c, libCtx == "background"))
	case variantGo:
		mux.Handle("GET /login", goLogin(p))
	default:
		return fmt.Errorf("unknown -variant %q", variant)
	}
	var conns atomic.Int64
	mux.HandleFunc("GET /ctl/stats", func(w http.ResponseWriter, _ *http.Request) {
		cpu, switches := selfUsage()
		_ = json.NewEncoder(w).Encode(serverStats{
			CPU:     cpu,
			Library: threadsCPU("self", "hostcall-"),
			Conns:   conns.Load(),
			Switch:  switches,
		})
	})
	mux.HandleFunc("POST /ctl/profile", func(w http.ResponseWriter, r *http.Request) {
		if path := r.URL.Query().Get("start"); path != "" {
			f, err := os.Create(path)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
			return
		}
		pprof.StopCPUProfile()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: mux,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Println(ln.Addr())
	exitWithParent()
	return srv.Serve(ln)
}

// child is a process of the run other than this one.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startChild runs this binary with args and waits (boundedly) for the
// address it listens on, the first line it prints.
func startChild(name string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case c.addr = <-line:
	case <-time.After(30 * time.Second):
	}
	if c.addr == "" {
		c.stop()
		return nil, fmt.Errorf("%s did not start", name)
	}
	return c, nil
}

// stop closes the child's stdin, which ends it, and kills it if it has
// not ended within a few seconds.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func (c *child) pid() string { return strconv.Itoa(c.cmd.Process.Pid) }

// server is a server child with the control client that reads its stats.
type server struct {
	*child
	variant string
	ctl     *http.Client
	load    *loader
}

func (s *server) stats() (serverStats, error) {
	var st serverStats
	resp, err := s.ctl.Get("http://" + s.addr + "/ctl/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

func (s *server) profile(query string) error {
	resp, err := s.ctl.Post("http://"+s.addr+"/ctl/profile?"+query, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s server: profile: %s", s.variant, b)
	}
	return nil
}

type config struct {
	duration, warmup time.Duration
	rounds           int
	connections      int
	mode             string
	pool             int
	spin             time.Duration
	libCtx           string
	cpuProfile       string
}

// measurement is one round of one variant.
type measurement struct {
	variant string
	round   int
	roundResult
	server   time.Duration // the loaded server's CPU over the round
	library  time.Duration // of it, the library's thread
	switches int64         // the loaded server's context switches
	backend  time.Duration // the backend's CPU over the round
	loadgen  time.Duration // this process's CPU over the round
	idle     time.Duration // the other servers' CPU over the round
}

func (m *measurement) perRequest(d time.Duration) float64 {
	return float64(d.Nanoseconds()) / 1e3 / float64(m.requests)
}

func parent(cfg config) error {
	variants := strings.Split(cfg.mode, ",")
	var childArgs [][]string
	for i, v := range variants {
		if slices.Contains(variants[:i], v) {
			return fmt.Errorf("-mode: %s twice", v)
		}
		args, err := serverArgs(v, cfg.spin)
		if err != nil {
			return err
		}
		childArgs = append(childArgs, args)
	}
	if cfg.rounds < 1 || cfg.connections < 1 || cfg.pool < 1 || cfg.duration <= 0 {
		return errors.New("-rounds, -connections, -pool and -duration must be positive")
	}
	be, err := startChild("backend", "-child", "backend")
	if err != nil {
		return err
	}
	defer be.stop()
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.load.close()
			s.child.stop()
		}
	}()
	for i, v := range variants {
		args := append([]string{"-child", "server", "-backend", be.addr, "-pool", strconv.Itoa(cfg.pool)}, childArgs[i]...)
		c, err := startChild(v+" server", args...)
		if err != nil {
			return err
		}
		servers = append(servers, &server{
			child: c, variant: v,
			ctl:  &http.Client{Timeout: 10 * time.Second},
			load: newLoader("http://"+c.addr, cfg.connections),
		})
	}
	fmt.Printf("loadbench: variants %s; %d connections; %d rounds of %v per variant, warmup %v; backend pool %d; lib spin %s\n",
		strings.Join(variants, ", "), cfg.connections, cfg.rounds, cfg.duration, cfg.warmup, cfg.pool, spinText(cfg.spin))

	bad := 0
	check := func(s *server, r roundResult, what string) {
		if r.bad > 0 {
			fmt.Printf("  %s %s: %d wrong responses, the first: %s\n", s.variant, what, r.bad, r.firstBad)
		}
		if r.requests == 0 {
			fmt.Printf("  %s %s: no correct response\n", s.variant, what)
			r.bad++
		}
		bad += r.bad
	}
	if cfg.warmup > 0 {
		for _, s := range servers {
			check(s, s.load.run(cfg.warmup), "warmup")
		}
	}
	if cfg.cpuProfile != "" {
		for _, s := range servers {
			if err := s.profile("start=" + cfg.cpuProfile + "-" + s.variant + ".pprof"); err != nil {
				return err
			}
		}
	}
	fmt.Printf("%-13s %5s %8s %9s %8s %8s %8s %9s %8s %6s %8s %8s %9s\n",
		"variant", "round", "requests", "req/s", "p50", "p90", "p99",
		"cpu/req", "lib/req", "cs/req", "db/req", "gen/req", "idle")
	var results []measurement
	for round := 1; round <= cfg.rounds; round++ {
		// Each round starts one variant further on, and every other
		// round runs backwards, so that no variant always follows another.
		order := slices.Clone(servers)
		shift := (round - 1) % len(order)
		order = append(order[shift:], order[:shift]...)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			m, err := measure(cfg, s, servers, be)
			if err != nil {
				return err
			}
			m.round = round
			check(s, m.roundResult, fmt.Sprintf("round %d", round))
			results = append(results, m)
			fmt.Printf("%-13s %5d %8d %9.0f %8s %8s %8s %7.1fµs %6.1fµs %6.2f %6.1fµs %6.1fµs %6.1fms/s\n",
				m.variant, m.round, m.requests, m.rate(),
				short(m.percentile(0.50)), short(m.percentile(0.90)), short(m.percentile(0.99)),
				m.perRequest(m.server), m.perRequest(m.library), float64(m.switches)/float64(m.requests),
				m.perRequest(m.backend),
				m.perRequest(m.loadgen), float64(m.idle.Microseconds())/1000/m.elapsed.Seconds())
		}
	}
	if cfg.cpuProfile != "" {
		for _, s := range servers {
			if err := s.profile("stop=1"); err != nil {
				return err
			}
			fmt.Printf("profile of the %s server: %s-%s.pprof\n", s.variant, cfg.cpuProfile, s.variant)
		}
	}
	for _, s := range servers {
		st, err := s.stats()
		if err != nil {
			return err
		}
		if st.Conns != int64(cfg.connections)+1 {
			// More means a connection was dialled again (the HTTP client
			// retries a GET on a new connection when a reused one was
			// closed before answering); every answer was still checked.
			fmt.Printf("  note: the %s server accepted %d connections (%d load + 1 control expected)\n",
				s.variant, st.Conns, cfg.connections)
		}
	}
	summarize(results, variants)
	if bad > 0 {
		return fmt.Errorf("%d wrong responses", bad)
	}
	fmt.Println("every response was 200 with the expected body")
	return nil
}

// measure loads s for one round and reads the CPU of every process around it.
func measure(cfg config, s *server, servers []*server, be *child) (measurement, error) {
	m := measurement{variant: s.variant}
	var others []*server
	for _, o := range servers {
		if o != s {
			others = append(others, o)
		}
	}
	before, err := s.stats()
	if err != nil {
		return m, err
	}
	var othersBefore []serverStats
	for _, o := range others {
		st, err := o.stats()
		if err != nil {
			return m, err
		}
		othersBefore = append(othersBefore, st)
	}
	beBefore, genBefore := threadsCPU(be.pid(), ""), selfCPU()

	m.roundResult = s.load.run(cfg.duration)

	m.loadgen, m.backend = selfCPU()-genBefore, threadsCPU(be.pid(), "")-beBefore
	after, err := s.stats()
	if err != nil {
		return m, err
	}
	m.server, m.library = after.CPU-before.CPU, after.Library-before.Library
	m.switches = after.Switch - before.Switch
	for i, o := range others {
		st, err := o.stats()
		if err != nil {
			return m, err
		}
		m.idle += st.CPU - othersBefore[i].CPU
	}
	return m, nil
}

// summarize prints the medians per variant and, for each library variant
// run with go, the medians of the per-round comparisons with go and
// whether the targets are met.
func summarize(results []measurement, variants []string) {
	byVariant := map[string][]measurement{}
	for _, m := range results {
		byVariant[m.variant] = append(byVariant[m.variant], m)
	}
	fmt.Println("medians over the rounds:")
	for _, v := range variants {
		ms := byVariant[v]
		fmt.Printf("  %-13s %7.0f req/s   p50 %s  p99 %s   server CPU %.1f µs/request (library thread %.1f)\n", v,
			median(ms, func(m measurement) float64 { return m.rate() }),
			short(time.Duration(median(ms, func(m measurement) float64 { return float64(m.percentile(0.5)) }))),
			short(time.Duration(median(ms, func(m measurement) float64 { return float64(m.percentile(0.99)) }))),
			median(ms, func(m measurement) float64 { return m.perRequest(m.server) }),
			median(ms, func(m measurement) float64 { return m.perRequest(m.library) }))
	}
	pure := byVariant[variantGo]
	if pure == nil {
		return
	}
	for _, v := range variants {
		if v == variantGo {
			continue
		}
		lib := byVariant[v]
		var ratios, diffs []float64
		for i := range lib {
			ratios = append(ratios, lib[i].rate()/pure[i].rate())
			diffs = append(diffs, lib[i].perRequest(lib[i].server)-pure[i].perRequest(pure[i].server))
		}
		ratio, diff := medianOf(ratios), medianOf(diffs)
		fmt.Printf("%s vs go, per round: rate ratio %s, server CPU difference %s µs/request\n",
			v, spread(ratios, "%.3f"), spread(diffs, "%+.1f"))
		fmt.Printf("  target rate ≥ 0.95× pure Go: %.3f× %s; target ≤ +10 µs server CPU per request: %+.1f µs %s\n",
			ratio, verdict(ratio >= 0.95), diff, verdict(diff <= 10))
	}
}

func verdict(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(missed)"
}

func median(ms []measurement, f func(measurement) float64) float64 {
	var xs []float64
	for _, m := range ms {
		xs = append(xs, f(m))
	}
	return medianOf(xs)
}

func medianOf(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// spread is "median (min … max)" in format f.
func spread(xs []float64, f string) string {
	lo, hi := slices.Min(xs), slices.Max(xs)
	return fmt.Sprintf(f+" ("+f+" … "+f+")", medianOf(xs), lo, hi)
}

func short(d time.Duration) string {
	if d >= time.Millisecond {
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

func spinText(d time.Duration) string {
	if d < 0 {
		return "default"
	}
	return d.String()
}
