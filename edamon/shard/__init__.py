"""Sharded collectors on Kafka's own group protocol (`edamon serve --shard-group NAME`).

Several `edamon serve` processes share one cluster's load; Kafka is the engine, edamon builds
no cluster manager:

- **Stage 1** (`member`): the members join the edamon-owned consumer group
  `edamon-shard.<group>.source` over the watched topics; Kafka assigns the partitions. Each
  member decodes a fetch in one batch and writes its compact index entries (`index`) to the
  repartition topic, packed one Kafka record per index partition, the partition chosen by
  correlation id; it commits in its own group.
- **Stage 2** (`member`): the members consume the index topic in a second edamon-owned group,
  `edamon-shard.<group>.index`, so each owns whole flows and builds chains and sagas there.
  A member that takes over index partitions rebuilds them from `now − window`: Kafka's
  retention is the changelog; event ids deduplicate.
- **Discovery and queries** (`peers`, `merge`): each member puts its API URL in its stage-2
  subscription's user data (Kafka's group member metadata); any member describes the group to
  find the others, asks each for its share and merges the answers.
"""
