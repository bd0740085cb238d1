package dockerdns

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
)

// DaemonJSON is where the Docker engine reads its settings by default.
const DaemonJSON = "/etc/docker/daemon.json"

// CheckDaemonJSON reads the engine's settings at path and says what is
// wrong with them for a Docker DNS server at addr, or nil when "dns"
// names addr first. Docker asks the "dns" servers in order, so addr must
// come first, with the host's usual resolvers after it; the engine reads
// the setting when it starts, and containers get it when they are made.
func CheckDaemonJSON(path string, addr netip.Addr) error {
	fix := fmt.Sprintf(`set "dns": [%q, <this host's usual resolvers>] in %s and restart dockerd; containers made before keep the old setting`, addr, path)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w; %s", err, fix)
	}
	var cfg struct {
		DNS []string `json:"dns"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w; %s", path, err, fix)
	}
	if len(cfg.DNS) == 0 {
		return fmt.Errorf("%s has no \"dns\": containers' queries for names on other hosts go to the host's resolvers; %s", path, fix)
	}
	if first, err := netip.ParseAddr(cfg.DNS[0]); err != nil || first.Unmap() != addr.Unmap() {
		return fmt.Errorf("%s: \"dns\" starts with %q, not %s: Docker asks that one first; %s", path, cfg.DNS[0], addr, fix)
	}
	if len(cfg.DNS) == 1 {
		return fmt.Errorf("%s: \"dns\" has only %s: containers will resolve no names but weft's; add this host's usual resolvers after it", path, addr)
	}
	return nil
}
