# tx/: transactions.
set(ORM_TX_SOURCES
  tx/tx.c
  tx/do_tx.c
  tx/on_commit.c
)
