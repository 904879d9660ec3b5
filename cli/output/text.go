package output

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/safetext"
)

// Column widths past which fields are cut so that a typical row fits in 80
// columns. The full values are in -o json.
const (
	maxDistro  = 12
	maxProcess = 12
)

// none stands in for an empty cell so columns stay readable.
const none = "-"

// table lays out rows in aligned columns. Rows are buffered so that
// trailing blanks can be cut from each line when the table is written.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

// row adds a row. Empty cells print as "-", except at the end of the row,
// where they stay blank.
func (t *table) row(cells ...string) {
	last := len(cells)
	for last > 0 && cells[last-1] == "" {
		last--
	}
	for i, c := range cells {
		if c == "" && i < last {
			c = none
		}
		// A tab or newline inside a value would break the layout, and
		// any other control character is a command to the terminal: the
		// daemon checks what it hands out, and the table does not rely
		// on that.
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return safetext.Rune(r)
		}, c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// flush writes the table, each line without trailing blanks.
func (t *table) flush() {
	t.tw.Flush()
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		if line == "" {
			continue
		}
		fmt.Fprintln(t.w, strings.TrimRight(line, " \n"))
	}
	t.buf.Reset()
}

// Truncate cuts s to at most n runes, marking the cut with "~".
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "~"
}

// Duration prints d the way people say it, with at most two units:
// "45s", "12m", "1h2m", "3d4h". Below a second it prints milliseconds.
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return strconv.Itoa(m) + "m"
		}
		return fmt.Sprintf("%dm%ds", m, s)
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		dd, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return strconv.Itoa(dd) + "d"
		}
		return fmt.Sprintf("%dd%dh", dd, h)
	}
}

// Latency prints a probe latency with a precision that suits its size.
func Latency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// Mode is the networking mode as wslinfo prints it: "nat", "mirrored".
func Mode(m wslfwdv1.NetworkingMode) string {
	if m == wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED {
		return ""
	}
	return endpoint.ModeName(m)
}

// HostPort joins an address and port; it prints "-" parts when missing.
func HostPort(addr string, port uint32) string {
	if addr == "" && port == 0 {
		return ""
	}
	if addr == "" {
		addr = "*"
	}
	if port == 0 {
		return net.JoinHostPort(addr, "*")
	}
	return net.JoinHostPort(addr, strconv.FormatUint(uint64(port), 10))
}
