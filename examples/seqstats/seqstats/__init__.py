"""SeqStats: a science gateway for sequence statistics on FASTA files, built with gateway-kit."""
