"""`python -m bench` (`make bench`): ftmon's poll cycle against a plain SDK polling loop.

Everything runs against the built-in simulator on loopback, started here in scale mode:

- `cycles`: one simulator, the same jobs and the same churn, two clients in turn, each in
  its own process: ftmon's real poll cycle (`PollService` through `wiring.poll_all`, a real
  SQLite file) and the loop a user would write with the official SDKs. Requests, bytes,
  wall and CPU seconds per cycle, peak RSS, and the request floor of the workload.
- `scale`: ftmon alone on ten thousand jobs, in its own process.
- `latency`: the real daemon (`ftmon run`) at a 5 s poll interval, a local JSON webhook,
  and the time from each change in the simulator to the webhook's arrival.
- `coldstart`: `ftmon run --once` as a new process, several times, on 100 jobs; and its
  start-up (no jobs, no latency, nothing to send).
- `once`: whole `run --once` processes on the 1,000 jobs of the `cycles` section against
  one SDK-loop cycle on the same jobs (the side-by-side ratio).

The child processes (`bench.workers`) take orders as JSON lines on stdin and answer on
stdout, so each peak RSS is that measurement's alone.
"""
