"""What moderators read and decide: alert queues, cluster pages, review decisions."""
