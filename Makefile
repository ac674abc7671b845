# The project's commands, by name. Each is a script in scripts/ or bench/ that installs what it
# needs on a fresh Debian machine with Rust.
.PHONY: run test reliability scale-out bench dist idle-order screenshots

run:          ## the site on SQLite with the local Stripe emulator
	scripts/dev.sh

test:         ## every test (the reliability suite at its short size)
	scripts/test.sh

reliability:  ## the reliability suite at full size: storms, faults, hostile input, fuzzing
	scripts/reliability.sh

scale-out:    ## instances behind HAProxy at full size: storm, rolling restart, shared limits
	scripts/scale-out.sh

bench:        ## the performance figures
	bench/run.sh

dist:         ## what ships, laid out in dist/: the server, the site's assets, plans.toml
	scripts/dist.sh

idle-order:   ## after a dependency changes: the functions an idle server runs, for the linker
	scripts/order-idle-code.sh

screenshots:  ## the README's pictures in docs/screenshots (pricing, Checkout, success, billing, portal)
	scripts/screenshots.sh
