// Several test classes start host processes, PostgreSQL servers and loopback listeners; run one class at a
// time so free ports are not raced for and the short leases of the process tests are not starved of CPU.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
