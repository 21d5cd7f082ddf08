# Reference values for tests/summary_reference.rs from the R package posterior (tested with 1.4.0).
# Run: Rscript summary_refs.R DIR, after `python summary_refs.py DIR` wrote DIR/<name>.csv
# (one column per chain, 17 significant digits, so R reads back the exact doubles).
suppressMessages(library(posterior))
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) > 0) args[1] else "."
show <- function(label, value) cat(sprintf("%s = %.17g\n", label, value))
for (name in c("ar1", "shifted", "anti", "odd", "ties", "single", "constant", "short")) {
  x <- as.matrix(read.csv(file.path(dir, paste0(name, ".csv")), header = FALSE))
  cat("==", name, "\n")
  show("rhat(x)", rhat(x))
  show("ess_bulk(x)", ess_bulk(x))
  show("ess_tail(x)", ess_tail(x))
  show("ess_mean(x)", ess_mean(x))
  show("mcse_mean(x)", mcse_mean(x))
  show("mcse_sd(x)", mcse_sd(x))
  show("mcse_quantile(x, 0.05)", mcse_quantile(x, 0.05))
  show("mcse_quantile(x, 0.5)", mcse_quantile(x, 0.5))
  show("quantile(x, 0.05)", quantile(x, 0.05))
  show("quantile(x, 0.5)", quantile(x, 0.5))
  show("quantile(x, 0.95)", quantile(x, 0.95))
  show("mean(x)", mean(x))
  show("sd(x)", sd(x))
}
