"""What tuning changed in what a model says: the output divergence of a tuned run from its reference at prompt and
answer positions (`divergence`) and each layer read through the unembedding as a prediction of the gold answer
(`lens`). Both load the two models once (`pair`) and read them on the same batches, one forward pass each
(`readout`)."""
