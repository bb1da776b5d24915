package gateway

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{
			Gateway: "gw1", Mount: "wg", Interface: "wg0", RoleIDFile: "r", SecretIDFile: "s",
			ResyncInterval: time.Minute, PollWait: 30 * time.Second, InstanceID: "i", StateDir: "/var/lib/wg-gateway",
		}
	}
	tests := []struct {
		name string
		edit func(*Config)
		flag string // the flag the error names; "" for no error
	}{
		{"good", func(*Config) {}, ""},
		{"poll wait of one second", func(c *Config) { c.PollWait = time.Second }, ""},
		{"poll wait under a second is sent as wait=0s", func(c *Config) { c.PollWait = 999 * time.Millisecond }, "-poll-wait"},
		{"no poll wait", func(c *Config) { c.PollWait = 0 }, "-poll-wait"},
		{"poll wait over a minute", func(c *Config) { c.PollWait = 61 * time.Second }, "-poll-wait"},
		{"no gateway", func(c *Config) { c.Gateway = "" }, "-gateway"},
		{"no resync interval", func(c *Config) { c.ResyncInterval = 0 }, "-resync-interval"},
		{"no state dir without a CA file", func(c *Config) { c.StateDir = "" }, "-state-dir"},
		{"a CA file needs no state dir", func(c *Config) { c.StateDir, c.CAFile = "", "/etc/ca.pem" }, ""},
		{"-keep-unmanaged needs one", func(c *Config) { c.StateDir, c.CAFile, c.KeepUnmanaged = "", "/etc/ca.pem", true }, "-state-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.edit(&c)
			err := c.Validate()
			if tt.flag == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.flag)
			}
		})
	}
}
