//go:build linux

package nstest

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BusyboxPath is the statically linked busybox of Debian's busybox-static,
// the one binary of the images a lab makes.
const BusyboxPath = "/bin/busybox"

// ImportBusybox makes an image called name on this engine, without a
// registry: /bin/busybox and a link for each of its applets, with
// CMD ["/bin/sh"], so that `docker run -dit IMAGE` keeps a shell running.
func (d *Dockerd) ImportBusybox(name string) error {
	if err := d.busyboxTree(); err != nil {
		return err
	}
	tar := exec.Command("tar", "-C", d.imageDir, "-c", ".")
	imp := exec.Command(DockerPath, "-H", d.DockerHost, "import", "--change", `CMD ["/bin/sh"]`, "-", name)
	imp.Env = append(os.Environ(), "DOCKER_CONFIG="+d.clientConfig)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var tarErr strings.Builder
	tar.Stderr = &tarErr
	if err := tar.Start(); err != nil {
		return fmt.Errorf("import %s on %s: tar: %w", name, d.Name, err)
	}
	_, ierr := runCmd(imp, "docker on "+d.Name)
	if err := tar.Wait(); err != nil {
		return fmt.Errorf("import %s on %s: tar: %w: %s", name, d.Name, err, tarErr.String())
	}
	return ierr
}

// busyboxTree fills the image directory once: bin/busybox and its applets,
// and the directories a container runtime mounts over.
func (d *Dockerd) busyboxTree() error {
	bin := filepath.Join(d.imageDir, "bin")
	if _, err := os.Stat(filepath.Join(bin, "busybox")); err == nil {
		return nil
	}
	if err := requireStatic(BusyboxPath); err != nil {
		return err
	}
	out, err := run(BusyboxPath, "--list")
	if err != nil {
		return err
	}
	for _, dir := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(d.imageDir, dir), 0o755); err != nil {
			return err
		}
	}
	for _, applet := range strings.Fields(out) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bin, "busybox"), b, 0o755)
}

// requireStatic fails unless path is a statically linked executable, which
// runs in an image that holds nothing else.
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("busybox image needs a static %s (apt-get install busybox-static): %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("busybox image needs a static %s, and this one is dynamically linked (apt-get install busybox-static)", path)
		}
	}
	return nil
}
