package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// A job is one request of a load: a POST of a pre-encoded JSON body.
type job struct {
	path string
	body []byte
}

// A loadResult is what one run of the load generator measured.
type loadResult struct {
	N          int             `json:"n"`
	Errors     int             `json:"errors"`
	FirstError string          `json:"first_error,omitempty"`
	Elapsed    time.Duration   `json:"elapsed_ns"`
	Throughput float64         `json:"throughput_per_s"`
	P50        time.Duration   `json:"p50_ns"`
	P99        time.Duration   `json:"p99_ns"`
	Lat        []time.Duration `json:"-"`
}

// load sends jobs with clients concurrent clients (each one request at a
// time, over kept-alive connections) and measures every request's latency
// and the whole run's throughput. onResp, if set, sees each 200 answer's
// body after its latency is taken. The run ends early when ctx is done.
func (s *vaultServer) load(ctx context.Context, token string, clients int, jobs []job, onResp func(i int, body []byte)) loadResult {
	lat := make([]time.Duration, len(jobs))
	ok := make([]bool, len(jobs))
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				t0 := time.Now()
				code, body, err := s.post(jobs[i].path, token, jobs[i].body)
				lat[i] = time.Since(t0)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d: %s", code, truncate(body))
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok[i] = true
				if onResp != nil {
					onResp(i, body)
				}
			}
		}()
	}
	wg.Wait()
	r := loadResult{Elapsed: time.Since(start), Errors: int(errs.Load())}
	if e, _ := firstErr.Load().(string); e != "" {
		r.FirstError = e
	}
	for i, d := range lat {
		if ok[i] {
			r.Lat = append(r.Lat, d)
		}
	}
	r.N = len(r.Lat)
	r.Throughput = float64(r.N) / r.Elapsed.Seconds()
	sorted := sortedDurations(r.Lat)
	r.P50, r.P99 = percentile(sorted, 50), percentile(sorted, 99)
	return r
}

// post sends one JSON POST and returns the status and body.
func (s *vaultServer) post(path, token string, body []byte) (int, []byte, error) {
	return s.request("POST", path, token, body)
}

// request sends one request with a JSON body and returns the status and body.
func (s *vaultServer) request(method, path, token string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, s.addr+"/v1/"+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Vault-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func sortedDurations(ds []time.Duration) []time.Duration {
	out := append([]time.Duration(nil), ds...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// median of values (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
