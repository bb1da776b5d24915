package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// p9Gateways is how many gateways share P9's mount; each gets P9Live/4.
const p9Gateways = 4

// p9Ref is the live count of P9's reference mount, and of the big mount
// when its first figures are taken.
const p9Ref = 1000

// growChunk is how many certificates one step of a growth issues: keys
// are made per step, and each step logs its rate.
const growChunk = 10000

// A p9Mount is one mount of our engine with several gateways, each with a
// role issuing for it; its issues go round the roles.
type p9Mount struct {
	path  string
	roles []string // roles[i] issues for gateways[i]
	gws   []string
	next  int // the role of the next job
}

// newP9Mount mounts the plugin at path with n gateways gw0…, whose pools
// are the /16s 10.<octet+i>.0.0 (65,533 addresses each), and a role per
// gateway.
func (b *bench) newP9Mount(path string, octet, n int) (*p9Mount, error) {
	s := b.vault
	if err := s.enableWG(path); err != nil {
		return nil, err
	}
	m := &p9Mount{path: path}
	for i := range n {
		gw, role := fmt.Sprintf("gw%d", i), fmt.Sprintf("r%d", i)
		if err := s.write(path+"/gateways/"+gw, map[string]any{
			"endpoint": "192.0.2.1:51820", "public_key": newKeys(1)[0],
			"address": fmt.Sprintf("10.%d.0.1", octet+i), "address_pool": fmt.Sprintf("10.%d.0.0/16", octet+i),
		}); err != nil {
			return nil, err
		}
		if err := s.write(path+"/roles/"+role, map[string]any{"gateway": gw, "ttl": benchTTL, "max_ttl": "48h"}); err != nil {
			return nil, err
		}
		m.gws, m.roles = append(m.gws, gw), append(m.roles, role)
	}
	return m, nil
}

// jobs are n issue requests with fresh device keys, going round the roles.
func (m *p9Mount) jobs(n int) []job {
	keys := newKeys(n)
	jobs := make([]job, n)
	for i, k := range keys {
		body, _ := json.Marshal(map[string]string{"public_key": k})
		jobs[i] = job{path: m.path + "/issue/" + m.roles[m.next], body: body}
		m.next = (m.next + 1) % len(m.roles)
	}
	return jobs
}

// growRetries is how many times grow sends again the issues of a step that
// failed (a leader starved of CPU may step down under the load).
const growRetries = 3

// grow issues n certificates on m with clients concurrent clients, in
// steps of growChunk (not a measurement), and returns every keep-th one
// issued and how many issues had to be sent again.
func (b *bench) grow(m *p9Mount, n, clients, keep int) ([]issued, int, error) {
	var kept []issued
	start, done, retried := time.Now(), 0, 0
	for done < n {
		step := min(growChunk, n-done)
		jobs := m.jobs(step)
		out := make([]issued, step)
		pending := make([]int, step) // the jobs not yet issued, by index
		for i := range pending {
			pending[i] = i
		}
		t0 := time.Now()
		for try := 0; len(pending) > 0; try++ {
			if try > growRetries {
				return nil, retried, fmt.Errorf("issuing on %s: %d failed %d times", m.path, len(pending), try)
			}
			pass := make([]job, len(pending))
			for k, i := range pending {
				pass[k] = jobs[i]
			}
			ok := make([]bool, len(pass))
			r := b.vault.load(b.ctx, b.device, clients, pass, func(k int, body []byte) {
				ok[k] = true
				var resp struct {
					LeaseID string `json:"lease_id"`
					Data    struct {
						Serial string `json:"serial_number"`
					} `json:"data"`
				}
				if json.Unmarshal(body, &resp) == nil {
					out[pending[k]] = issued{LeaseID: resp.LeaseID, Serial: resp.Data.Serial}
				}
			})
			if err := b.ctx.Err(); err != nil {
				return nil, retried, err
			}
			var failed []int
			for k, i := range pending {
				if !ok[k] {
					failed = append(failed, i)
				}
			}
			if len(failed) > 0 {
				logf("P9 %s: %d issues failed (first: %s); sending them again", m.path, len(failed), r.FirstError)
				retried += len(failed)
			}
			pending = failed
		}
		for i := 0; i < step; i += keep {
			kept = append(kept, out[i])
		}
		done += step
		el := time.Since(t0)
		logf("P9 %s: +%d in %s (%.0f/s), %d of %d, %s elapsed, load %s", m.path, step, el.Round(time.Millisecond),
			float64(step)/el.Seconds(), done, n, time.Since(start).Round(time.Second), loadAvg())
	}
	return kept, retried, nil
}

// liveTotal is the sum of the live peers of m's gateways, from their
// status (which waits for the registry's load).
func (b *bench) liveTotal(m *p9Mount) (int, error) {
	total := 0
	for _, gw := range m.gws {
		var st struct {
			LivePeers int `json:"live_peers"`
		}
		if _, err := b.vault.call("GET", m.path+"/gateways/"+gw+"/status", rootToken, nil, &st); err != nil {
			return 0, err
		}
		total += st.LivePeers
	}
	return total, nil
}

// A p9Round is one round of samples: the big mount's and the reference
// mount's issues, back to back at the same client count.
type p9Round struct {
	BigFirst bool       `json:"big_first"`
	Big      loadResult `json:"big"`
	Ref      loadResult `json:"ref"`
	Load     string     `json:"loadavg"`
	// BigGC and RefGC are the active node's collections that ended
	// during each half.
	BigGC gcUse `json:"big_vault_gc"`
	RefGC gcUse `json:"ref_vault_gc"`
}

// pairedSamples runs rounds of sample issues on big and on ref (the
// reference mount, issuing for its one gateway), alternating which goes
// first; label names them in the log.
func (b *bench) pairedSamples(label string, big *p9Mount, ref *wgMount, rounds, sample int) ([]p9Round, error) {
	var out []p9Round
	for i := range rounds {
		rd := p9Round{BigFirst: i%2 == 0, Load: loadAvg()}
		runs := []struct {
			res  *loadResult
			gc   *gcUse
			jobs []job
		}{{&rd.Big, &rd.BigGC, big.jobs(sample)}, {&rd.Ref, &rd.RefGC, ref.jobs(sample)}}
		if !rd.BigFirst {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, r := range runs {
			start := time.Now()
			*r.res = b.vault.load(b.ctx, b.device, b.p.Clients, r.jobs, nil)
			*r.gc = b.vault.gc.between(start, time.Now())
			if r.res.Errors > 0 {
				return nil, fmt.Errorf("sample: %d errors, first: %s", r.res.Errors, r.res.FirstError)
			}
			if err := b.ctx.Err(); err != nil {
				return nil, err
			}
		}
		logf("P9 %s round %d: issue p50 big %.2f ms, ref %.2f ms; the active node's collector: big %d, %.0f ms of CPU, ref %d, %.0f ms (load %s)",
			label, i+1, ms(rd.Big.P50), ms(rd.Ref.P50), rd.BigGC.N, ms(rd.BigGC.CPU), rd.RefGC.N, ms(rd.RefGC.CPU), rd.Load)
		out = append(out, rd)
	}
	return out, nil
}

// p50s are the rounds' p50s in ms, the big mount's and the reference's.
func p50s(rounds []p9Round) (big, ref []float64) {
	for _, r := range rounds {
		big, ref = append(big, ms(r.Big.P50)), append(ref, ms(r.Ref.P50))
	}
	return big, ref
}

// serveAgain sends issues to s (a fresh key each, retrying every 50 ms
// on any failure) until one succeeds, and returns when it returned,
// giving up at limit.
func (b *bench) serveAgain(s *vaultServer, m *p9Mount, limit time.Duration) (time.Time, int, error) {
	deadline := time.Now().Add(limit)
	tries := 0
	var last string
	for time.Now().Before(deadline) {
		if err := b.ctx.Err(); err != nil {
			return time.Time{}, tries, err
		}
		j := m.jobs(1)[0]
		tries++
		code, body, err := s.post(j.path, b.device, j.body)
		if err == nil && code == http.StatusOK {
			return time.Now(), tries, nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %d: %s", code, truncate(body))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Time{}, tries, fmt.Errorf("no issue succeeded on %s within %s; last: %s", s.addr, limit, last)
}
