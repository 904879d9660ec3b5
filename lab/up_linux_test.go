//go:build linux

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// TestUp runs `lab up` as a user would: it waits for the ready line, runs
// the commands up prints (through the built lab binary rather than go
// run), then sends SIGINT and checks that nothing of the lab is left.
func TestUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root")
	}
	bin := filepath.Join(t.TempDir(), "lab")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The deadline kills a hung lab, which ends the reads below.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	up := exec.CommandContext(ctx, bin, "up")
	stdout, err := up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	up.Stderr = &stderr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var printed []string
	for lines.Scan() && !strings.HasPrefix(lines.Text(), readyLine) {
		printed = append(printed, lines.Text())
	}
	text := strings.Join(printed, "\n")
	if lines.Err() != nil || !strings.HasPrefix(lines.Text(), readyLine) {
		up.Wait()
		t.Fatalf("no ready line: %v\n%s\n%s", lines.Err(), text, stderr.String())
	}
	labID := regexp.MustCompile(`namespaces (` + netlab.Prefix + `[0-9a-f]+)-lan`).FindStringSubmatch(text)
	dir := regexp.MustCompile(`logs in (\S+)\)`).FindStringSubmatch(lines.Text())
	pids := regexp.MustCompile(`\(pid (\d+)\)`).FindAllStringSubmatch(text, -1)
	if labID == nil || dir == nil || len(pids) != 2 {
		t.Fatalf("up did not name its namespaces, directory, daemon and agent:\n%s\n%s", text, lines.Text())
	}

	tryPrinted(t, bin, printed)

	if err := up.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	if err := up.Wait(); err != nil {
		t.Errorf("up after SIGINT: %v\n%s\n%s", err, strings.Join(rest, "\n"), stderr.String())
	}
	if end := strings.Join(rest, "\n"); !strings.Contains(end, "tear down") || !strings.Contains(end, "lab stopped and cleaned up") {
		t.Errorf("after SIGINT up said:\n%s", end)
	}
	if left, err := netlab.List(labID[1]); err != nil || len(left) > 0 {
		t.Errorf("namespaces left: %v %v", left, err)
	}
	if _, err := os.Stat(dir[1]); err == nil {
		t.Errorf("%s is left", dir[1])
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + pid[1]); err == nil {
			t.Errorf("pid %s runs on", pid[1])
		}
	}
}

// tryPrinted runs each command up suggested that ends by itself, and
// checks it shows the sample service.
func tryPrinted(t *testing.T, bin string, printed []string) {
	t.Helper()
	want := map[string][]string{
		"ss -ltnp":  {"*:8080"},
		"curl":      {"hello from the WSL side"},
		" forwards": {"0.0.0.0:8080", "172.28.240.53:8080", "ACTIVE"},
	}
	var ran []string
	for _, line := range printed {
		cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "go run ./lab ")
		if !ok || strings.Contains(cmd, "http.server") {
			continue // a comment, or a service that runs until stopped
		}
		args := strings.Fields(cmd)
		if _, err := exec.LookPath(args[3]); err != nil && !filepath.IsAbs(args[3]) {
			t.Logf("not tried, %s is not installed here: %s", args[3], cmd)
			continue
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", cmd, err, out)
			continue
		}
		for key, words := range want {
			for _, w := range words {
				if strings.Contains(cmd, key) && !strings.Contains(string(out), w) {
					t.Errorf("%s printed\n%s\nwant %q in it", cmd, out, w)
				}
			}
		}
		ran = append(ran, cmd)
	}
	if !strings.Contains(strings.Join(ran, "\n"), " forwards") {
		t.Errorf("the CLI's forwards command was not among those printed and run:\n%s", strings.Join(printed, "\n"))
	}
}
