//go:build linux || darwin

package tap

import "github.com/songgao/water"

// setWaterName asks water for the interface called name.
func setWaterName(cfg *water.Config, name string) {
	cfg.Name = name
}
