// Package bench measures issue 7's figures in the lab: `go run ./lab bench`.
//
// Run builds the programs, starts a lab (lab/labrun: the daemon in winhost
// with the relay backend) and a helper process in wsl (the lab binary's
// hidden bench-helper command, running Serve), which opens and closes echo
// listeners when the driver tells it to and reports CLOCK_MONOTONIC right
// after each listen() or close() returns. The clock is shared by every
// network namespace, so the driver, dialling from lan, subtracts the two.
// The detection figures are measured twice, with an agent started with
// --trigger ebpf and then with --trigger scan; the others once.
//
// # What is measured
//
//   - Time to forward: the helper opens 0.0.0.0:PORT in wsl; the driver
//     dials 10.2.3.1:PORT from lan every 250 µs (a refused dial returns at
//     once) until a message comes back through the relay. Each trial uses a
//     fresh port and has a 5 s deadline; a miss is a failure, counted and
//     printed. Time to unforward: the helper closes the listener; the driver
//     dials until the host refuses the port (the relay's listener is gone).
//     In scan-only mode each open and close waits a random part of the scan
//     interval first, so the trials do not lock onto the scan's phase.
//   - Agent CPU: utime+stime from /proc/<pid>/stat (10 ms ticks) over a
//     window, as a percentage of one core: idle with the bulk listeners open,
//     and while the helper churns listeners, 100 changes a second (50
//     opens a second, each listener closed 500 ms after it opened, so 50
//     closes too), with the bulk ones still open.
//   - Bulk: the helper opens 1,000 listeners in a loop; the driver polls
//     ListForwards every 10 ms until all 1,000 are ACTIVE, timed from before
//     the first listen(); then VmRSS of the agent and the daemon. After the
//     CPU windows it closes them and times until none is listed.
//   - Scan cost: the median of many listener scans of wsl with no
//     established connections, then with 10,000 loopback connections in
//     wsl (both ends established; the server ends wait unaccepted in the
//     listeners' queues, so they need no file descriptor), for the bare sock_diag scan (agent-linux/sockdiag)
//     and for the agent's listener read with owner lookup
//     (agent-linux/scan). No agent runs meanwhile.
//   - Throughput: a sink in wsl counts what a sender writes, both 256 KiB
//     at a time, in five rounds of one transfer winhost→wsl direct and one
//     lan→winhost (relay)→wsl right after it. Each path's figure is its
//     median, and the ratio is the median of the rounds' ratios, so a load
//     change between rounds moves both sides of a ratio. Every transfer is
//     logged. Both
//     paths cross the winhost–wsl veth pair once; the relay path also
//     crosses lan's and carries the bytes over two TCP connections, as a
//     LAN client's would. What the lab cannot mirror is that sender, relay
//     and sink, three machines in use, share this machine's CPUs: the
//     relay path needs about twice the CPU per byte of the direct one, so
//     with few CPUs the ratio measures the machine as much as the relay
//     (on 2 vCPUs about 0.6, on one about 0.5). Load from other programs
//     raises the ratio, as it takes more from the faster direct path. On a
//     virtual machine the transfers of one run can differ by a factor of
//     two, so a single run's ratio is rough.
//
// The micro-benchmarks beside it live with their code:
// agent-linux/sockdiag BenchmarkScan, agent-linux/tracker
// BenchmarkEventOpenClose, hostd-windows/policy
// BenchmarkDecide1000, hostd-windows/reconcile BenchmarkReconcileSteady1000,
// hostd-windows/backend/relay BenchmarkThroughput and the
// agent-linux/ebpftrigger benchmarks.
//
// # JSON (lab bench --json FILE)
//
// Times are milliseconds (_ms) or microseconds (_us), sizes MiB (_mib),
// rates MiB/s (_mib_s), CPU percent of one core (_pct), windows seconds
// (_s). Latency percentiles are nearest-rank over the successful trials.
//
//	quick                   true for a --quick run
//	command                 the command line that produced the file
//	started                 start time, RFC 3339 UTC
//	duration_s              how long the run took
//	kernel, cpus, go_version  the machine: kernel release, CPUs, Go toolchain
//	scan_interval_ms        the agents' --scan-interval (scan-only mode's shortest period)
//	modes.ebpf, modes.scan  the detection figures of each mode:
//	  trigger               the agent's --trigger value
//	  forward.trials        trials run; forward.ok succeeded, forward.failures missed the 5 s deadline
//	  forward.p50_ms, forward.p90_ms, forward.p99_ms, forward.max_ms
//	                        listen() in wsl → first echo from lan through the forward
//	  unforward.*           the same keys for close() in wsl → the host refuses the port
//	                        (trials whose forward failed are not counted)
//	  bulk.listeners        listeners opened at once (1000)
//	  bulk.forwarded_ms     first listen() → all of them ACTIVE in ListForwards
//	  bulk.unforwarded_ms   last close() → none of them listed
//	  bulk.agent_rss_mib    agent VmRSS once all are forwarded
//	  bulk.daemon_rss_mib   daemon VmRSS then
//	  bulk.agent_scan_us    the agent's listener read (agent-linux/scan: sock_diag scan and owner
//	                        check) with them open, median of 50 run from the bench; what every
//	                        wake of the agent costs at this size
//	  cpu.idle_pct          agent CPU with bulk.listeners open and nothing changing
//	  cpu.idle_window_s     its measuring window
//	  cpu.idle_listeners    listeners open meanwhile
//	  cpu.churn_pct         agent CPU while listeners open and close (bulk ones still open)
//	  cpu.churn_window_s    its measuring window
//	  cpu.churn_opens_per_s, cpu.churn_closes_per_s  the churn achieved
//	scan_cost.established   connections open for the second measurement (10000)
//	scan_cost.scans         scans timed for each median
//	scan_cost.listeners     sockets each scan returned (the connections' listeners among them)
//	scan_cost.none_us, scan_cost.established_us  median sock_diag scan without, with the connections
//	scan_cost.ratio         established_us ÷ none_us
//	scan_cost.agent_none_us, scan_cost.agent_established_us, scan_cost.agent_ratio
//	                        the same for the agent's scan plus owner lookup
//	throughput.bytes        bytes per transfer
//	throughput.direct_mib_s winhost → wsl, no forward (median of the rounds)
//	throughput.relay_mib_s  lan → relay in winhost → wsl (median of the rounds)
//	throughput.ratio        relay ÷ direct: the median of the rounds' ratios
//	targets[]               issue 7's goals: figure (the JSON path above), op ("<=" or ">="),
//	                        limit, value, met. A latency goal whose trials had failures
//	                        is not met, with value -1.
package bench
