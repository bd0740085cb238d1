//go:build linux

package nstest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// MetricsAddr is where a lab's weftd serves /metrics, inside its namespace.
const MetricsAddr = "127.0.0.1:9723"

// Weftd is a weftd running on a lab host.
type Weftd struct {
	*Host
	Socket string // API socket path
	Log    string // path of its log
	cmd    *exec.Cmd
}

// StartWeftd runs weftd on the host, with its state, socket and log in the
// lab's directory, and waits until its API answers.
func (h *Host) StartWeftd(extra ...string) (*Weftd, error) {
	base := filepath.Join(h.Lab.dir, h.Name)
	w := &Weftd{Host: h, Socket: base + ".sock", Log: base + ".log"}
	// --config "": a test weftd reads no /etc/weft/weftd.yaml the machine
	// may have.
	args := []string{h.Lab.Bin("weftd"), "--config", "",
		"--state-dir", base + ".state", "--api-socket", w.Socket,
		"--metrics-addr", MetricsAddr, "--data-path-addr", h.IP.String(), "--log-level", "debug",
		// No Docker integration unless a test asks for it (extra flags
		// come later and win): a lab weftd must never touch the
		// machine's own Docker engine or plugin directory.
		"--docker-plugin-socket", ""}
	// WEFT_E2E_WEFTD_ARGS runs the integration tests on another data path,
	// e.g. "--tap-driver water".
	args = append(args, strings.Fields(os.Getenv("WEFT_E2E_WEFTD_ARGS"))...)
	args = append(args, extra...)
	cmd, err := h.Lab.Start(h.NS, w.Log, args...)
	if err != nil {
		return nil, err
	}
	w.cmd = cmd
	return w, w.waitReady(10 * time.Second)
}

func (w *Weftd) waitReady(limit time.Duration) error {
	if poll.Wait(limit, func() bool { _, err := w.CLI("network", "ls", "-q"); return err == nil }) {
		return nil
	}
	log, _ := os.ReadFile(w.Log)
	return fmt.Errorf("weftd on %s not ready after %s; log:\n%s", w.Name, limit, log)
}

// CLI runs the weft CLI against this daemon and returns its combined output.
func (w *Weftd) CLI(args ...string) (string, error) {
	return run(w.Lab.Bin("weft"), append([]string{"-H", "unix://" + w.Socket}, args...)...)
}

// PID is the weftd process's ID.
func (w *Weftd) PID() int { return w.cmd.Process.Pid }

// Running reports whether the weftd process is still alive (not exited and
// not a zombie).
func (w *Weftd) Running() bool { return Running(w.PID()) }

// Running reports whether the process pid is alive (not exited and not a
// zombie).
func Running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// Diagnose describes the daemon for a failure report: whether it runs, and
// the end of its log.
func (w *Weftd) Diagnose() string {
	log, _ := os.ReadFile(w.Log)
	lines := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return fmt.Sprintf("weftd on %s running=%v; last log lines:\n%s", w.Name, w.Running(), strings.Join(lines, "\n"))
}

// Kill sends SIGKILL, as a crash would, and waits for the process to go.
func (w *Weftd) Kill() error {
	if err := w.cmd.Process.Kill(); err != nil {
		return err
	}
	w.Lab.stop(w.cmd) // reaps it
	return nil
}

// Stop sends SIGTERM and waits for weftd to exit.
func (w *Weftd) Stop() { w.Lab.stop(w.cmd) }

// Metrics scrapes the daemon's /metrics and returns every sample, keyed by its
// name and labels as they appear in the text format.
func (w *Weftd) Metrics() (map[string]float64, error) {
	var body []byte
	err := Do(w.NS, func() error {
		c, err := net.DialTimeout("tcp", MetricsAddr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\n\r\n"); err != nil {
			return err
		}
		body, err = readAll(c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", w.Name, err)
	}
	return parseMetrics(string(body)), nil
}

func readAll(c net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if n == 0 && len(out) > 0 {
				return out, nil
			}
			return out, err
		}
	}
}

func parseMetrics(text string) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, "weft_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}
