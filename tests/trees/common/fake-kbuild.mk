# force-rmmod-gen test tree: a small stand-in for Kbuild's external-module
# interface, included by the tree's top-level Makefile (after the VERSION
# lines).  It is not Kbuild; it does what the tests need, the same way:
#
#   make -C TREE M=DIR [CC=..] [LD=..] [V=1] [-k] [-jN] [modules|X.o|X.i|X.s|clean]
#   make -C TREE kernelrelease | kernelversion
#
# DIR/Kbuild (or DIR/Makefile) lists obj-m (and X-objs / X-y for composite
# modules).  Everything is written into DIR; nothing into the tree, so makes
# on different M= dirs can run at once.  `modules` compiles, runs a small
# modpost (undefined symbols are checked against the tree's Module.symvers,
# an error from 5.x on, a warning before, as in the kernel), generates
# X.mod.c with the vermagic, and links X.ko with `ld -r`.

fk-tree := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

.SUFFIXES:
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

ifeq ($(origin CC),default)
CC := $(CROSS_COMPILE)gcc
endif
ifeq ($(origin LD),default)
LD := $(CROSS_COMPILE)ld
endif
NM ?= $(CROSS_COMPILE)nm
OBJCOPY ?= $(CROSS_COMPILE)objcopy

KERNELRELEASE := $(shell cat $(fk-tree)/include/config/kernel.release 2>/dev/null)
KERNELVERSION := $(VERSION)$(if $(PATCHLEVEL),.$(PATCHLEVEL)$(if $(SUBLEVEL),.$(SUBLEVEL)))$(EXTRAVERSION)

ifeq ($(V),1)
fk-cmd = $(3)
else
fk-cmd = @printf '  %-7s %s\n' '$(1)' '$(2)'; $(3)
endif

PHONY := modules clean kernelrelease kernelversion FORCE
.DEFAULT_GOAL := modules

kernelrelease:
	@echo $(KERNELRELEASE)
kernelversion:
	@echo $(KERNELVERSION)

fk-goals := $(if $(MAKECMDGOALS),$(MAKECMDGOALS),modules)
ifneq ($(filter-out kernelrelease kernelversion,$(fk-goals)),)

ifeq ($(M),)
M := $(SUBDIRS)
endif
ifeq ($(M),)
$(error fake Kbuild in $(fk-tree): this test tree only builds external modules, pass M=DIR)
endif
fk-ext := $(abspath $(M))

# ---- the module's own Kbuild file, read the way Kbuild reads it ----
fk-kbuild := $(firstword $(wildcard $(fk-ext)/Kbuild $(fk-ext)/Makefile))
ifeq ($(fk-kbuild),)
$(error $(fk-ext)/Makefile: No such file or directory)
endif
src := $(fk-ext)
obj := $(fk-ext)
obj-m :=
ccflags-y :=
EXTRA_CFLAGS :=
include $(fk-kbuild)
.DEFAULT_GOAL := modules

fk-mods := $(patsubst %.o,%,$(obj-m))
fk-parts = $(or $(strip $($(1)-objs) $($(1)-y)),$(1).o)
fk-composite := $(foreach m,$(fk-mods),$(if $(filter-out $(m).o,$(call fk-parts,$(m))),$(m)))
$(foreach m,$(fk-composite),$(foreach p,$(call fk-parts,$(m)),$(eval fk-owner-$(p:.o=) := $(m))))
fk-modname = $(subst -,_,$(notdir $(or $(fk-owner-$(1)),$(1))))

# ---- compiler flags, as Kbuild passes them for an x86_64 module ----
fk-isystem := $(shell $(CC) -print-file-name=include)
fk-forced := $(firstword $(wildcard $(fk-tree)/include/linux/kconfig.h \
	$(fk-tree)/include/generated/autoconf.h $(fk-tree)/include/linux/autoconf.h))
# -std=gnu89 until 5.17, gnu11 from 5.18 on
fk-std := $(shell if [ $(VERSION) -lt 5 ] || { [ $(VERSION) -eq 5 ] && [ $(PATCHLEVEL) -lt 18 ]; }; \
	then echo gnu89; else echo gnu11; fi)
fk-cflags = -nostdinc -isystem $(fk-isystem) \
	-I$(fk-tree)/arch/x86/include -I$(fk-tree)/arch/x86/include/generated \
	-I$(fk-tree)/include -I$(fk-tree)/arch/x86/include/uapi \
	-I$(fk-tree)/arch/x86/include/generated/uapi -I$(fk-tree)/include/uapi \
	-I$(fk-tree)/include/generated/uapi -include $(fk-forced) \
	-D__KERNEL__ -DMODULE -std=$(fk-std) -O2 \
	-Wall -Wundef -Wstrict-prototypes -Wno-trigraphs \
	-Werror=implicit-function-declaration -Werror=implicit-int \
	-fno-strict-aliasing -fno-common -fshort-wchar -fno-PIE -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-delete-null-pointer-checks \
	-mcmodel=kernel -mno-red-zone -mno-sse -mno-mmx -mno-sse2 -mno-3dnow -mno-avx \
	$(ccflags-y) $(EXTRA_CFLAGS) $(KCFLAGS)
# $(1): the file's base name, $(2): its path under M= without .o
fk-names = -DKBUILD_BASENAME='"$(notdir $(1))"' -DKBUILD_MODNAME='"$(call fk-modname,$(2))"'

# ---- single files: X.o / X.i / X.s name files under M= ----
fk-file-goals := $(filter-out /%,$(filter %.o %.i %.s %.ko,$(MAKECMDGOALS)))
$(fk-file-goals): %: $(fk-ext)/% ;

$(fk-ext)/%.o: $(fk-ext)/%.c FORCE
	$(call fk-cmd,CC [M],$@,rm -f $@; $(CC) $(fk-cflags) $(call fk-names,$*,$*) -c -o $@ $<)

$(fk-ext)/%.i: $(fk-ext)/%.c FORCE
	$(call fk-cmd,CPP [M],$@,$(CC) $(fk-cflags) $(call fk-names,$*,$*) -E -o $@ $<)

$(fk-ext)/%.s: $(fk-ext)/%.c FORCE
	$(call fk-cmd,CC [M],$@,$(CC) $(fk-cflags) $(call fk-names,$*,$*) -S -o $@ $<)

define fk-composite-rule
$(fk-ext)/$(1).o: $(addprefix $(fk-ext)/,$(call fk-parts,$(1)))
	$$(call fk-cmd,LD [M],$$@,$$(LD) -r -m elf_x86_64 -o $$@ $$^)
endef
$(foreach m,$(fk-composite),$(eval $(call fk-composite-rule,$(m))))

# ---- modpost: symbol check, X.mod.c, then X.mod.o and X.ko ----
fk-mod-objs := $(addprefix $(fk-ext)/,$(addsuffix .o,$(fk-mods)))
fk-kos := $(addprefix $(fk-ext)/,$(addsuffix .ko,$(fk-mods)))
fk-undef-level := $(if $(filter 0 1 2 3 4,$(VERSION)),WARNING,ERROR)

modules: $(fk-kos)
	@:

$(fk-ext)/Module.symvers: $(fk-mod-objs)
ifneq ($(filter 0 1 2 3 4,$(VERSION)),)
	@echo '  Building modules, stage 2.'
	@echo '  MODPOST $(words $(fk-mods)) modules'
else
	@echo '  MODPOST $@'
endif
	@fail=0; \
	cut -f2 $(fk-tree)/Module.symvers | sort -u > $@.vmlinux; \
	for m in $(fk-mods); do \
		o=$(fk-ext)/$$m.o; \
		undef=$$($(NM) -u $$o | awk '{print $$2}'); \
		for s in $$undef; do \
			[ "$$s" = __this_module ] && continue; \
			if ! grep -qxF "$$s" $@.vmlinux; then \
				echo "$(fk-undef-level): modpost: \"$$s\" [$(fk-ext)/$$m.ko] undefined!"; \
				if [ $(fk-undef-level) = ERROR ]; then fail=1; fi; \
			fi; \
		done; \
		$(OBJCOPY) -O binary -j .modinfo $$o $(fk-ext)/$$m.modinfo; \
		lic=$$(tr '\0' '\n' < $(fk-ext)/$$m.modinfo | sed -n 's/^license=//p' | head -n 1); \
		rm -f $(fk-ext)/$$m.modinfo; \
		case "$$lic" in \
		"GPL"|"GPL v2"|"GPL and additional rights"|"Dual BSD/GPL"|"Dual MIT/GPL"|"Dual MPL/GPL") ;; \
		"") echo "WARNING: modpost: missing MODULE_LICENSE() in $$o";; \
		*) for s in $$undef; do \
			if grep -q "	$$s	.*EXPORT_SYMBOL_GPL" $(fk-tree)/Module.symvers; then \
				echo "ERROR: modpost: GPL-incompatible module $$m.ko uses GPL-only symbol '$$s'"; \
				fail=1; \
			fi; \
		done;; \
		esac; \
		{ echo '#include <linux/module.h>'; echo '#include <linux/vermagic.h>'; echo; \
		  echo 'MODULE_INFO(vermagic, VERMAGIC_STRING);'; echo; \
		  echo 'struct module __this_module'; \
		  echo '__attribute__((section(".gnu.linkonce.this_module"))) = {'; \
		  echo '	.name = KBUILD_MODNAME,'; \
		  if $(NM) $$o | grep -q ' T init_module$$'; then echo '	.init = init_module,'; fi; \
		  if $(NM) $$o | grep -q ' T cleanup_module$$'; then \
			printf '#ifdef CONFIG_MODULE_UNLOAD\n\t.exit = cleanup_module,\n#endif\n'; fi; \
		  echo '};'; } > $(fk-ext)/$$m.mod.c; \
	done; \
	rm -f $@.vmlinux; \
	if [ $$fail != 0 ]; then rm -f $@; exit 1; fi; \
	: > $@

define fk-module-rules
$(fk-ext)/$(1).mod.o: $(fk-ext)/Module.symvers
	$$(call fk-cmd,CC [M],$$@,$$(CC) $$(fk-cflags) $$(call fk-names,$(1).mod,$(1)) -c -o $$@ $(fk-ext)/$(1).mod.c)
$(fk-ext)/$(1).ko: $(fk-ext)/$(1).o $(fk-ext)/$(1).mod.o
	$$(call fk-cmd,LD [M],$$@,$$(LD) -r -m elf_x86_64 -o $$@ $$^)
endef
$(foreach m,$(fk-mods),$(eval $(call fk-module-rules,$(m))))

clean:
	@rm -f $(fk-ext)/*.o $(fk-ext)/*.ko $(fk-ext)/*.mod.c $(fk-ext)/*.i $(fk-ext)/*.s \
		$(fk-ext)/Module.symvers $(fk-ext)/modules.order

endif

FORCE:
.PHONY: $(PHONY)
