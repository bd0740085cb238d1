package tap

import "github.com/songgao/water"

// setWaterName asks water for the adapter called name.
func setWaterName(cfg *water.Config, name string) {
	cfg.InterfaceName = name
}
