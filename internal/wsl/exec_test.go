package wsl

import (
	"reflect"
	"testing"
)

func TestExecArgs(t *testing.T) {
	got := ExecArgs("Ubuntu", "root", "/mnt/c/Program Files/wslfwd/linux-amd64/wslfwd-agent", "install")
	want := []string{"-d", "Ubuntu", "-u", "root", "--exec", "/mnt/c/Program Files/wslfwd/linux-amd64/wslfwd-agent", "install"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := ExecArgs("Debian", "", "uname", "-r", "-m"); !reflect.DeepEqual(got, []string{"-d", "Debian", "--exec", "uname", "-r", "-m"}) {
		t.Errorf("default user: got %q", got)
	}
}

// Kernel releases as WSL 1, WSL 2 and a custom WSL 2 kernel print them.
func TestKernel(t *testing.T) {
	tests := []struct {
		out     string
		machine string
		wsl1    bool
	}{
		{"4.4.0-19041-Microsoft x86_64\n", "x86_64", true},
		{"5.15.90.1-microsoft-standard-WSL2 x86_64\n", "x86_64", false},
		{"4.19.128-microsoft-standard aarch64\n", "aarch64", false},
		{"6.6.36-custom-kernel x86_64", "x86_64", false},
	}
	for _, tt := range tests {
		k, err := ParseUname([]byte(tt.out))
		if err != nil {
			t.Fatalf("%q: %v", tt.out, err)
		}
		if k.Machine != tt.machine || k.WSL1() != tt.wsl1 {
			t.Errorf("%q: machine %q, WSL1 %v; want %q, %v", tt.out, k.Machine, k.WSL1(), tt.machine, tt.wsl1)
		}
	}
	for _, bad := range []string{"", "5.15.90.1-microsoft-standard-WSL2\n", "a b c"} {
		if _, err := ParseUname([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestResultErr(t *testing.T) {
	if err := (Result{}).Err(); err != nil {
		t.Errorf("exit 0: %v", err)
	}
	err := Result{Code: 1, Stderr: []byte("wslpath: bad path\n")}.Err()
	if err == nil || err.Error() != "exit status 1: wslpath: bad path" {
		t.Errorf("got %v", err)
	}
	if err := (Result{Code: 4}).Err(); err == nil || err.Error() != "exit status 4" {
		t.Errorf("got %v", err)
	}
}

func TestInfrastructure(t *testing.T) {
	for name, want := range map[string]bool{"docker-desktop": true, "docker-desktop-data": true, "Ubuntu": false, "my-docker-desktop": false} {
		if Infrastructure(name) != want {
			t.Errorf("Infrastructure(%q) = %v", name, !want)
		}
	}
}
