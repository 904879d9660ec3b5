//go:build linux

package faults

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// churnEnv names the variable that turns the test binary into the churn
// helper: "seed,base port,ports,operations,duration".
const churnEnv = "WSLFWD_FAULTS_CHURN"

// churnSpec is what the helper does: ops toggles (open if closed, close
// if open) of ports [base, base+n) in random order, each port at least
// once, spread evenly over d.
type churnSpec struct {
	seed    uint64
	base, n int
	ops     int
	d       time.Duration
}

func (c churnSpec) String() string {
	return fmt.Sprintf("%d,%d,%d,%d,%s", c.seed, c.base, c.n, c.ops, c.d)
}

func parseChurnSpec(s string) (churnSpec, error) {
	f := strings.Split(s, ",")
	if len(f) != 5 {
		return churnSpec{}, fmt.Errorf("churn spec %q: want seed,base,ports,ops,duration", s)
	}
	var c churnSpec
	var err error
	if c.seed, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return c, fmt.Errorf("churn spec seed: %w", err)
	}
	ints := []*int{&c.base, &c.n, &c.ops}
	for i, p := range ints {
		if *p, err = strconv.Atoi(f[i+1]); err != nil || *p <= 0 {
			return c, fmt.Errorf("churn spec field %d %q: want a positive number", i+2, f[i+1])
		}
	}
	if c.ops < c.n {
		return c, fmt.Errorf("churn spec: %d operations cannot open each of %d ports", c.ops, c.n)
	}
	if c.base+c.n > 65536 {
		return c, fmt.Errorf("churn spec: ports %d+%d beyond 65535", c.base, c.n)
	}
	if c.d, err = time.ParseDuration(f[4]); err != nil || c.d <= 0 {
		return c, fmt.Errorf("churn spec duration %q: want a positive duration", f[4])
	}
	return c, nil
}

// churnMain is the helper process, run inside wsl: it toggles listeners
// as the spec says, printing progress every 500 operations, then prints
// "churn done" with the count left open and keeps them open until killed.
func churnMain(spec string) int {
	c, err := parseChurnSpec(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rng := rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))
	open := make(map[int]net.Listener, c.n)
	pace := time.NewTicker(c.d / time.Duration(c.ops))
	defer pace.Stop()
	var opens, closes int
	// Every port is toggled at least once (opened), the rest at random.
	order := rng.Perm(c.n)
	for len(order) < c.ops {
		order = append(order, rng.IntN(c.n))
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for i, off := range order {
		<-pace.C // spreads the operations over the duration
		port := c.base + off
		if ln, ok := open[port]; ok {
			ln.Close()
			delete(open, port)
			closes++
		} else {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)).String())
			if err != nil {
				fmt.Fprintf(os.Stderr, "churn: listen on %d: %v\n", port, err)
				return 1
			}
			open[port] = ln
			opens++
			go netlab.Echo(ln)
		}
		if done := i + 1; done%500 == 0 {
			fmt.Printf("churn progress %d\n", done)
		}
	}
	fmt.Printf("churn done: %d opens, %d closes, %d open\n", opens, closes, len(open))
	select {} // hold the listeners until the test kills us
}

// long runs the churn for 30 s, the full-length run; by default it runs
// for 10 s to keep CI quick (5 s with -short).
var long = flag.Bool("long", false, "churn listeners for 30 s instead of 10 s")

// 1,000 ports churn: listeners open and close in random order for a
// while (seeded, the seed is logged), and meanwhile the agent is SIGKILLed
// and restarted twice. Once the churn stops, the forward table matches
// what listens in wsl exactly.
func TestChurnWithAgentKills(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{}, 120*time.Second)
	spec := churnSpec{seed: uint64(time.Now().UnixNano()), base: 20000, n: 1000, ops: 3000, d: 10 * time.Second}
	if s := os.Getenv("WSLFWD_FAULTS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WSLFWD_FAULTS_SEED: %v", err)
		}
		spec.seed = seed
	}
	switch {
	case *long:
		spec.ops, spec.d = 9000, 30*time.Second
	case testing.Short():
		spec.ops, spec.d = 1500, 5*time.Second
	}
	t.Logf("churn: %s (rerun with WSLFWD_FAULTS_SEED=%d)", spec, spec.seed)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := env.Lab.WSL.Command(context.Background(), self)
	cmd.Env = append(os.Environ(), churnEnv+"="+spec.String())
	helper, err := env.Lab.Start("churn", cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Kill() })

	waitLog := func(what string) {
		t.Helper()
		err := env.Wait(ctx, "the churn helper to print "+what, func(context.Context) (bool, error) {
			if exited, err := helper.Exited(); exited {
				return false, fmt.Errorf("churn helper exited: %v\n%s", err, helper.Tail(10))
			}
			return strings.Contains(helper.Log(), what), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Kill the agent a third and two thirds of the way through.
	for _, at := range []int{spec.ops / 3 / 500 * 500, 2 * spec.ops / 3 / 500 * 500} {
		waitLog(fmt.Sprintf("churn progress %d\n", at))
		if err := env.KillAgent(distro); err != nil {
			t.Fatal(err)
		}
		t.Logf("agent killed after %d operations", at)
		if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: distro}); err != nil {
			t.Fatal(err)
		}
	}
	waitLog("churn done")
	t.Log(strings.TrimSpace(helper.Tail(1)))
	truth := checkExact(ctx, t, env, exactOptions{dialAll: true})
	var opens, closes, n int
	if _, err := fmt.Sscanf(helper.Tail(1), "churn done: %d opens, %d closes, %d open", &opens, &closes, &n); err != nil {
		t.Fatalf("churn helper's last line %q: %v", helper.Tail(1), err)
	}
	if len(truth) != n {
		t.Errorf("the kernel lists %d listeners in wsl, the churn helper holds %d", len(truth), n)
	}
}

func TestParseChurnSpec(t *testing.T) {
	want := churnSpec{seed: 7, base: 20000, n: 1000, ops: 3000, d: 10 * time.Second}
	got, err := parseChurnSpec(want.String())
	if err != nil || got != want {
		t.Fatalf("parseChurnSpec(%q) = %v, %v; want %v", want.String(), got, err, want)
	}
	for _, bad := range []string{"", "1,2,3,4", "x,20000,10,10,1s", "1,65000,1000,10,1s", "1,20000,0,10,1s", "1,20000,10,10,-1s", "1,20000,10,9,1s"} {
		if _, err := parseChurnSpec(bad); err == nil {
			t.Errorf("parseChurnSpec(%q) succeeded, want an error", bad)
		}
	}
}

func FuzzParseChurnSpec(f *testing.F) {
	f.Add("7,20000,1000,3000,10s")
	f.Add("1,1,1,1,1ns")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseChurnSpec(s)
		if err != nil {
			return
		}
		if c.base <= 0 || c.n <= 0 || c.ops < c.n || c.d <= 0 || c.base+c.n > 65536 {
			t.Fatalf("parseChurnSpec(%q) accepted %+v", s, c)
		}
	})
}
