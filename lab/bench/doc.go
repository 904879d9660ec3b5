// Package bench measures issues 7's and 16's figures in the lab:
// `go run ./lab bench`.
//
// Run builds the programs, starts a lab (lab/labrun: the daemon in winhost
// with the relay backend) and a helper process in wsl (the lab binary's
// hidden bench-helper command, running Serve), which opens and closes echo
// listeners when the driver tells it to and reports CLOCK_MONOTONIC right
// after each listen() or close() returns. The clock is shared by every
// network namespace, so the driver, dialling from lan, subtracts the two.
// The detection figures are measured with an agent started with
// --trigger ebpf and then with one started with --trigger scan; the
// others while the first runs, beside peers (socat, a 1 s poller).
//
// # What is measured
//
// Each figure is measured Sizes.Repeats (3) times, in the same run, and
// reported as the median of the repeats with their range: a single run's
// figure on a shared or virtual machine is rough, and the range says how
// rough. Trial counts are over all repeats.
//
//   - Time to forward: the helper opens 0.0.0.0:PORT in wsl; the driver
//     tries 10.2.3.1:PORT from lan every 450 µs until a message comes back
//     through the relay. The prober runs on one locked thread with its own
//     system calls (connect, ppoll, nanosleep), outside Go's netpoller and
//     timers (which sleep whole milliseconds), so its own delay stays below
//     half a millisecond. A try whose connect gets no answer within 450 µs
//     (a SYN dropped by a listener as it closes, which TCP would resend
//     only after a second) is abandoned for the next, which starts at
//     once, and counted. Each
//     trial uses a fresh port and has a 5 s deadline; a miss is a failure,
//     counted and printed. Time to unforward: the helper
//     closes the listener; the driver tries until the host refuses the
//     port. In scan-only mode each open and close waits a random part of
//     the scan interval first, so the trials do not lock onto the scan's
//     phase. forward_loaded is the same with the 1,000 bulk listeners open.
//   - CPU: the time on CPU of every thread of the agent and of the daemon
//     (/proc/<pid>/task/*/schedstat, nanoseconds) over a window, as a
//     percentage of one core: idle with the bulk listeners open, and while
//     the helper churns listeners, 100 changes a second (50 opens a second,
//     each listener closed 500 ms after it opened), the bulk ones still open.
//   - Bulk: the helper opens 1,000 listeners in a loop; the driver polls
//     ListForwards every 10 ms until all are ACTIVE, timed from before the
//     first listen(), and after closing them until none is listed; then
//     VmRSS of the agent and the daemon.
//   - Peers, in the eBPF mode's run: a socat relay (socat -b 262144
//     TCP4-LISTEN:PORT+1,fork TCP4:wsl:PORT in winhost), whose time to
//     forward is the floor set by the path and the prober, since it detects
//     nothing; and a process in wsl that dumps the TCP listeners with
//     sock_diag every second, as WSL's own localhost relay does, whose
//     "time to forward" is the time until a dump shows the new listener
//     (the forward itself would add the socat floor). Their CPU is measured
//     over the same idle windows as the agent's.
//   - Scan cost: the median of many listener scans of wsl with no
//     established connections, then with 10,000 loopback connections in
//     wsl (both ends established; the server ends wait unaccepted in the
//     listeners' queues, so they need no file descriptor), for the bare
//     sock_diag scan (agent-linux/sockdiag) and for the agent's listener
//     read with owner lookup (agent-linux/scan). No agent runs meanwhile.
//   - Throughput: a sink in wsl counts what a sender writes, both 256 KiB
//     at a time, in rounds of three transfers: winhost→wsl direct,
//     lan→winhost (relay)→wsl, and lan→winhost (socat)→wsl. Each path's
//     figure is its median over the rounds, and each ratio the median of
//     the rounds' ratios, so a load change between rounds moves both sides
//     of a ratio. Both relayed paths cross lan's veth pair too and carry
//     the bytes over two TCP connections, as a LAN client's would. Sender,
//     relay and sink share this machine's CPUs: the relayed paths need
//     about twice the CPU per byte of the direct one, so with few CPUs
//     relay ÷ direct measures the machine as much as the relay; relay ÷
//     socat compares two relays doing the same work on the same machine.
//   - UDP: an echo in wsl, reached from winhost directly and from lan
//     through the relay, the path every UDP forward takes on Windows too
//     (TCP goes through portproxy there). The sender keeps 64 numbered
//     datagrams of 1,200 bytes in flight, sending one more for each echo
//     and for each datagram with no echo within 50 ms (counted as lost),
//     so the rate is what the path carries end to end. Same rounds as the
//     TCP transfers; the daemon's CPU is measured while it relays.
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
// (_s). A figure measured in repeats is the median; the key with "_range"
// added holds [lowest, highest] over the repeats. Latency percentiles are
// nearest-rank over each repeat's successful trials.
//
//	quick                   true for a --quick run
//	command                 the command line that produced the file
//	started                 start time, RFC 3339 UTC
//	duration_s              how long the run took
//	kernel, cpus, go_version  the machine: kernel release, CPUs, Go toolchain
//	scan_interval_ms        the agents' --scan-interval (scan-only mode's shortest period)
//	repeats                 how many times each figure was measured
//	modes.ebpf, modes.scan  the detection figures of each mode:
//	  trigger               the agent's --trigger value
//	  forward.trials        trials run; forward.ok succeeded, forward.failures missed the 5 s deadline;
//	                        forward.repeats the repeats they ran in; forward.unanswered_tries
//	                        the tries over all trials whose connect got no answer in 450 µs
//	  forward.p50_ms, forward.p90_ms, forward.p99_ms, forward.max_ms (each with _range)
//	                        listen() in wsl → first echo from lan through the forward
//	  forward_loaded.*      the same keys, with bulk.listeners open
//	  unforward.*           the same keys for close() in wsl → the host refuses the port
//	                        (trials whose forward failed are not counted)
//	  kernel.forward.*      (modes.ebpf only) the same keys with the daemon restarted on
//	                        --backend kernel (IPv4 forwarding on in winhost), its own eBPF agent
//	                        and the same prober: listen() in wsl → first echo from lan through the
//	                        DNAT rule
//	  kernel.unforward.*    close() in wsl → the rule is gone from winhost's inet wslfwd, read
//	                        back there (while the rule stands, wsl refuses lan just as the host
//	                        does without it, so a refusal cannot tell)
//	  bulk.listeners        listeners opened at once (1000)
//	  bulk.forwarded_ms     first listen() → all of them ACTIVE in ListForwards (and _range)
//	  bulk.unforwarded_ms   last close() → none of them listed (and _range)
//	  bulk.agent_rss_mib    agent VmRSS once all are forwarded
//	  bulk.daemon_rss_mib   daemon VmRSS then
//	  bulk.agent_scan_us    the agent's listener read (agent-linux/scan: sock_diag scan and owner
//	                        check) with them open, median of 50 run from the bench; what every
//	                        wake of the agent costs at this size
//	  cpu.windows           windows of each kind
//	  cpu.idle_pct          agent CPU with bulk.listeners open and nothing changing (and _range)
//	  cpu.daemon_idle_pct   daemon CPU in the same windows (and _range)
//	  cpu.idle_window_s     one window's length
//	  cpu.idle_listeners    listeners open meanwhile
//	  cpu.churn_pct         agent CPU while listeners open and close, bulk ones still open (and _range)
//	  cpu.daemon_churn_pct  daemon CPU in the same windows (and _range)
//	  cpu.churn_window_s    one window's length
//	  cpu.churn_opens_per_s, cpu.churn_closes_per_s  the churn achieved
//	peers.socat.forward.*   latency keys: listen() in wsl → first echo through socat
//	peers.poller.forward.*  latency keys: listen() in wsl → the 1 s poller's dump shows it
//	                        (unanswered_tries is 0: nothing is probed)
//	peers.socat.cpu_pct, peers.poller.cpu_pct  their CPU over modes.ebpf's idle windows (and _range)
//	scan_cost.established   connections open for the second measurement (10000)
//	scan_cost.scans         scans timed for each median
//	scan_cost.listeners     sockets each scan returned (the connections' listeners among them)
//	scan_cost.none_us, scan_cost.established_us  median sock_diag scan without, with the connections (and _range)
//	scan_cost.ratio         established_us ÷ none_us (and _range)
//	scan_cost.agent_none_us, scan_cost.agent_established_us, scan_cost.agent_ratio (and _range)
//	                        the same for the agent's scan plus owner lookup
//	throughput.bytes        bytes per transfer; throughput.rounds the rounds
//	throughput.direct_mib_s winhost → wsl, no forward (and _range)
//	throughput.relay_mib_s  lan → relay in winhost → wsl (and _range)
//	throughput.socat_mib_s  lan → socat in winhost → wsl (and _range)
//	throughput.ratio        relay ÷ direct: the median of the rounds' ratios (and _range)
//	throughput.relay_vs_socat  relay ÷ socat, likewise (and _range)
//	throughput.kernel_mib_s lan → the kernel backend's DNAT rule in winhost → wsl, forwarded
//	                        by the kernel with no process in the path (and _range)
//	throughput.kernel_vs_socat, throughput.kernel_vs_direct  kernel ÷ socat and kernel ÷ direct,
//	                        medians of the rounds' ratios (and _range)
//	throughput.udp.payload, throughput.udp.window, throughput.udp.sample_s  bytes per datagram,
//	                        datagrams in flight, seconds each path is measured per round
//	throughput.udp.direct_per_s, throughput.udp.relay_per_s  echoes a second, winhost → wsl and
//	                        lan → relay → wsl (and _range)
//	throughput.udp.ratio    relay ÷ direct, the median of the rounds' ratios (and _range)
//	throughput.udp.daemon_cpu_pct  the daemon's CPU while relaying them (and _range)
//	throughput.udp.lost     datagrams with no echo within 50 ms, both paths, all rounds
//	targets[]               issue 16's goals and issue 7's it kept: figure (the JSON path above),
//	                        op ("<=" or ">="), limit, value, met. A latency goal whose trials had
//	                        failures is not met, with value -1.
package bench
