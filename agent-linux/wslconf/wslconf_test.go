package wslconf

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const piece = "nohup /usr/local/bin/wslfwd-agent run --distro Ubuntu >>/var/log/wslfwd-agent.log 2>&1 &"

// bootCommand decodes the boot command WSL would run from conf.
func bootCommand(t *testing.T, conf []byte) (string, bool) {
	t.Helper()
	f := parse(conf)
	if f.command < 0 {
		return "", false
	}
	start := f.commandAt
	if conf[start-1] == '"' {
		start-- // the opening quote, which value needs to see
	}
	v, cont := value(conf[start:f.lines[f.command].end])
	for i := f.command + 1; cont && i < len(f.lines); i++ {
		var more string
		more, cont = value(f.lines[i].text(conf))
		v += more
	}
	return strings.TrimRight(v, " \t"), true
}

func TestAddRemove(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		kind       string
		user       string // the user's boot command, "" when none
		want       string // conf after Add, "" to skip the check
	}{
		{name: "no file", conf: "", kind: KindSection,
			want: "[boot]\ncommand = \"" + piece + "\"\n"},
		{name: "other sections and comments", conf: "# my settings\n[automount]\nenabled = true # yes\n\n[network]\nhostname = box\n", kind: KindSection,
			want: "# my settings\n[automount]\nenabled = true # yes\n\n[network]\nhostname = box\n\n[boot]\ncommand = \"" + piece + "\"\n"},
		{name: "no final newline", conf: "[network]\nhostname = box", kind: KindSection,
			want: "[network]\nhostname = box\n\n[boot]\ncommand = \"" + piece + "\"\n"},
		{name: "CRLF without boot", conf: "[user]\r\ndefault = me\r\n", kind: KindSection,
			want: "[user]\r\ndefault = me\r\n\r\n[boot]\r\ncommand = \"" + piece + "\"\r\n"},
		{name: "CRLF boot command", conf: "# mine\r\n[boot]\r\ncommand = \"service ssh start; mount -a\"\r\n[user]\r\ndefault = me\r\n",
			kind: KindPrefix, user: "service ssh start; mount -a",
			want: "# mine\r\n[boot]\r\ncommand = \"" + piece + " service ssh start; mount -a\"\r\n[user]\r\ndefault = me\r\n"},
		{name: "background boot command", conf: "[boot]\ncommand = \"service cron start &\"\n", kind: KindPrefix, user: "service cron start &"},
		{name: "unquoted with comment", conf: "[boot]\n  command=service ssh start   # ssh\n", kind: KindPrefix, user: "service ssh start",
			want: "[boot]\n  command=" + piece + " service ssh start   # ssh\n"},
		{name: "boot without command", conf: "[boot]\nsystemd = false\n", kind: KindLine,
			want: "[boot]\ncommand = \"" + piece + "\"\nsystemd = false\n"},
		{name: "header at end of file", conf: "[network]\nhostname = box\n[Boot] # start", kind: KindLine,
			want: "[network]\nhostname = box\n[Boot] # start\ncommand = \"" + piece + "\""},
		{name: "command in a later boot section", conf: "[boot]\nsystemd=false\n[net]\ncommand = nope\n[BOOT]\nCommand = \"a\" \"b\"\n[boot]\ncommand = second\n",
			kind: KindPrefix, user: "a b"},
		{name: "commented and continued lines are not keys", conf: "[boot]\n# command = \"x\"\n[network]\nhostname = a\\\n[boot]\n", kind: KindLine,
			want: "[boot]\ncommand = \"" + piece + "\"\n# command = \"x\"\n[network]\nhostname = a\\\n[boot]\n"},
		{name: "continued user command", conf: "[boot]\ncommand = \"mount -a; \\\nservice ssh start\"\n", kind: KindPrefix, user: "mount -a; service ssh start"},
		{name: "empty command", conf: "[boot]\ncommand = \"\"\n", kind: KindPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := []byte(tc.conf)
			orig := bytes.Clone(conf)
			out, e, err := Add(conf, piece)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(conf, orig) {
				t.Fatal("Add changed its input")
			}
			if e.Kind != tc.kind {
				t.Errorf("kind %q, want %q", e.Kind, tc.kind)
			}
			if tc.want != "" && string(out) != tc.want {
				t.Errorf("after Add:\n%q\nwant\n%q", out, tc.want)
			}
			wantCmd := piece
			if tc.user != "" {
				wantCmd += " " + tc.user
			}
			if got, ok := bootCommand(t, out); !ok || got != wantCmd {
				t.Errorf("WSL would run %q (found %v), want %q", got, ok, wantCmd)
			}
			back, err := Remove(out, e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, orig) {
				t.Errorf("after Remove:\n%q\nwant the original\n%q", back, orig)
			}
		})
	}
}

// The user's edits after Add stay; only the inserted bytes go.
func TestRemoveKeepsLaterEdits(t *testing.T) {
	for _, conf := range []string{"", "[boot]\n", "[boot]\ncommand = x\n"} {
		out, e, err := Add([]byte(conf), piece)
		if err != nil {
			t.Fatal(err)
		}
		edited := "# added later\r\n" + string(out) + "[user]\ndefault = me\n"
		back, err := Remove([]byte(edited), e)
		if err != nil {
			t.Fatalf("%q: %v", conf, err)
		}
		if want := "# added later\r\n" + conf + "[user]\ndefault = me\n"; string(back) != want {
			t.Errorf("%q: after Remove %q, want %q", conf, back, want)
		}
	}
}

func TestRemoveRefusesHandEdits(t *testing.T) {
	for _, conf := range []string{"", "[boot]\n", "[boot]\ncommand = x\n"} {
		out, e, err := Add([]byte(conf), piece)
		if err != nil {
			t.Fatal(err)
		}
		edited := bytes.Replace(out, []byte("--distro Ubuntu"), []byte("--distro Debian"), 1)
		if _, err := Remove(edited, e); !errors.Is(err, ErrChanged) {
			t.Errorf("%q: Remove of a hand-edited command: err %v, want ErrChanged", conf, err)
		}
	}
	if _, err := Remove([]byte("[boot]\n"), Edit{Kind: "moved", Text: "x"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
}

func TestAddRefusesCommandsWSLReadsSpecially(t *testing.T) {
	for _, cmd := range []string{"agent", `agent "x" &`, `agent \ &`, "agent # &", "agent\n&"} {
		if _, _, err := Add(nil, cmd); err == nil {
			t.Errorf("Add(%q) accepted", cmd)
		}
	}
}
