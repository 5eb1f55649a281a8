"""One module per chapter of the book (`_toc.yml`), holding that chapter's experiments, figures and the rules
of its parameters (`PARAMETERS`). Chapter modules build on the core of `lib` and never import each other."""
