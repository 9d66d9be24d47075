package e2e

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/loadgen"
	"coffer/internal/testcluster"
)

// The cluster benchmark's shape: the same for every configuration, so the
// figures compare.
const (
	// COFFER_BENCH_CLUSTER=1 runs TestClusterBench (scripts/bench sets it and
	// starts the PostgreSQL cluster it needs).
	cbenchEnv = "COFFER_BENCH_CLUSTER"
	// cbenchClients signed-in API clients run at once, each one request
	// at a time, for cbenchDuration per workload.
	cbenchClients  = 16
	cbenchDuration = 15 * time.Second
	// cbenchSeedJournals are posted before the reads, so that the trial
	// balance and the accounts' balances sum real books, the same size in
	// every configuration.
	cbenchSeedJournals = 100
	// cbenchDate is the date of every journal and of the trial balance.
	cbenchDate = "2026-06-30"
)

// cbenchConfig is one configuration measured.
type cbenchConfig struct {
	label string // as printed: nodes=1, nodes=2, nodes=2 via=nginx
	nodes int
	nginx bool
}

// cbenchFigures are one configuration's measurements.
type cbenchFigures struct {
	cfg           cbenchConfig
	reads, writes *loadgen.Result
	readCPU       float64 // machine-wide busy fraction during the reads
	writeCPU      float64
	booksOK       bool
}

// TestClusterBench measures authenticated reads and ledger writes a second
// and their latency with Coffer on PostgreSQL, one node against two: the
// same clients, duration and books, a fresh database each time. Two nodes
// are measured with the clients split evenly across them, and again
// through nginx (deploy/nginx/coffer.conf, as testcluster runs it). It
// prints one CLUSTER line per configuration and the scaling ratios, and
// fails on any request error or if the books, after the writes, do not
// balance or do not hold exactly the journals acknowledged.
//
// The figures are measured, not asserted: on a small machine PostgreSQL,
// the nodes, nginx and this generator share the same cores, so a second
// node adds no CPU and the ratios stay near 1; and every ledger write
// takes the cluster-wide write lock (store/sqlstore), one at a time by
// design, whatever the number of nodes. The CPU figure says how busy the
// whole machine was (other programs included) during each run.
func TestClusterBench(t *testing.T) {
	if os.Getenv(cbenchEnv) != "1" {
		t.Skipf("cluster benchmark: set %s=1 (scripts/bench does, and starts PostgreSQL)", cbenchEnv)
	}
	if raceEnabled() {
		t.Skip("cluster benchmark: skipped under the race detector, whose overhead would make its numbers meaningless")
	}
	configs := []cbenchConfig{
		{label: "nodes=1", nodes: 1},
		{label: "nodes=2", nodes: 2},
		{label: "nodes=2 via=nginx", nodes: 2, nginx: true},
	}
	var all []*cbenchFigures
	for _, cfg := range configs {
		t.Run(cfg.label, func(t *testing.T) {
			f := cbenchRun(t, cfg)
			all = append(all, f)
			books := "ok"
			if !f.booksOK {
				books = "WRONG"
			}
			t.Logf("CLUSTER %s clients=%d duration=%s reads/s=%.0f read_p50=%.1fms read_p99=%.1fms writes/s=%.0f write_p50=%.1fms write_p99=%.1fms errors=%d read_errors=%s write_errors=%s books=%s cpu_reads=%.0f%% cpu_writes=%.0f%% cores=%d",
				cfg.label, cbenchClients, cbenchDuration,
				f.reads.PerSecond(), ms(f.reads.Latency.Quantile(0.5)), ms(f.reads.Latency.Quantile(0.99)),
				f.writes.PerSecond(), ms(f.writes.Latency.Quantile(0.5)), ms(f.writes.Latency.Quantile(0.99)),
				f.reads.ErrorCount()+f.writes.ErrorCount(), f.reads.ErrorSummary(), f.writes.ErrorSummary(),
				books, 100*f.readCPU, 100*f.writeCPU, runtime.NumCPU())
		})
	}
	if len(all) == 0 || all[0].cfg.nodes != 1 || all[0].reads.PerSecond() == 0 || all[0].writes.PerSecond() == 0 {
		return // the one-node run failed: nothing to compare with
	}
	one := all[0]
	for _, f := range all[1:] {
		t.Logf("CLUSTER scaling %s/nodes=1 reads=%.2f writes=%.2f",
			f.cfg.label, f.reads.PerSecond()/one.reads.PerSecond(), f.writes.PerSecond()/one.writes.PerSecond())
	}
}

// cbenchRun starts a fresh cluster for cfg, signs in cbenchClients
// members, seeds the books, and runs the read then the write workload.
func cbenchRun(t *testing.T, cfg cbenchConfig) *cbenchFigures {
	ctx := context.Background()
	cl := testcluster.Start(t, testcluster.Options{Nodes: cfg.nodes, Nginx: cfg.nginx})
	// Each client has a source address of its own (127.0.10.1–16): one
	// sign-in each, far inside the per-client sign-in limit, which is the
	// only per-client limit; authenticated API requests have none.
	sessions := make([]loadgen.Session, cbenchClients)
	for k := range sessions {
		ip := fmt.Sprintf("127.0.10.%d", k+1)
		role := "adviser" // may post journals, as the owner
		if k == 0 {
			role = "owner" // creates the organisation
		}
		node := cl.Nodes[k%len(cl.Nodes)]
		m := signedInMember(t, node, ip, fmt.Sprintf("bench%02d@bench.example", k), "Bench Books Ltd", role)
		// The run's client: straight to a node, the clients split evenly
		// across the nodes, or through nginx from the same address.
		c := client.New(node.URL, node.HTTPClient(ip))
		if cfg.nginx {
			c = client.New(cl.URL, cl.HTTPClient(ip))
		}
		sessions[k] = loadgen.Session{C: c, Token: m.Session, OrgID: m.OrgID}
		if m.OrgID != sessions[0].OrgID {
			t.Fatalf("%s is in organisation %d, not %d", m.Email, m.OrgID, sessions[0].OrgID)
		}
	}
	books := cbenchBooks(t, sessions[0])

	f := &cbenchFigures{cfg: cfg}
	reads, err := loadgen.Reads(sessions, books)
	if err != nil {
		t.Fatal(err)
	}
	opts := loadgen.Options{Workers: cbenchClients, Duration: cbenchDuration}
	cpu0 := cbenchCPU(t)
	if f.reads, err = loadgen.Run(ctx, opts, reads); err != nil {
		t.Fatal(err)
	}
	cpu1 := cbenchCPU(t)
	f.readCPU = loadgen.BusyBetween(cpu0, cpu1)

	before, err := loadgen.ReadState(ctx, sessions[0], books)
	if err != nil {
		t.Fatal(err)
	}
	w, err := loadgen.NewWriter(sessions, books)
	if err != nil {
		t.Fatal(err)
	}
	cpu0 = cbenchCPU(t)
	if f.writes, err = loadgen.Run(ctx, opts, w.Op); err != nil {
		t.Fatal(err)
	}
	f.writeCPU = loadgen.BusyBetween(cpu0, cbenchCPU(t))
	// Read back through the last node: what one node acknowledged the
	// other must show.
	after, err := loadgen.ReadState(ctx, sessions[len(cl.Nodes)-1], books)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(before, after); err != nil {
		t.Errorf("%s: %v", cfg.label, err)
	} else {
		f.booksOK = true
	}
	for _, r := range []struct {
		what string
		res  *loadgen.Result
	}{{"reads", f.reads}, {"writes", f.writes}} {
		if r.res.ErrorCount() > 0 {
			t.Errorf("%s: %s: %d of %d requests failed (%s), the first: %v", cfg.label, r.what,
				r.res.ErrorCount(), r.res.OK+r.res.ErrorCount(), r.res.ErrorSummary(), r.res.FirstError)
		}
	}
	if n, _ := w.Acknowledged(); n == 0 {
		t.Errorf("%s: no write was acknowledged", cfg.label)
	}
	return f
}

// cbenchBooks finds the bank (1000) and office-expenses (6000) accounts of
// the default chart and posts cbenchSeedJournals journals between them.
func cbenchBooks(t *testing.T, s loadgen.Session) loadgen.Books {
	t.Helper()
	b, err := loadgen.SeedBooks(context.Background(), s, cbenchDate, cbenchSeedJournals)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cbenchCPU reads the machine's CPU times.
func cbenchCPU(t *testing.T) loadgen.CPUTimes {
	t.Helper()
	c, err := loadgen.ReadCPU()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
