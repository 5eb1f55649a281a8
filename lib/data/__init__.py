"""Data for the chapters, one module per kind of source:

- `lib.data.signals`: synthetic 1-D signals and their train/test splits (Snake chapters);
- `lib.data.images`:  Fashion-MNIST, CIFAR-10 and scikit-learn digits (image chapters);
- `lib.data.text`:    character-level text from the standard library (language model).

Nothing here downloads at run time unless a user asks for it explicitly.
"""
