;; ftpgate policy ABI v1 example: deny DELE with 550, cap STOR at 1 MiB,
;; allow everything else. Subscribes to DELE and STOR only, so no other
;; verb ever calls it. example.wasm is this module, assembled by
;; policy/policytest/testmod.Example (the tests check the two agree).
(module
  (memory (export "memory") 1)

  ;; 256: deny response: action=1, code=550, message
  (data (i32.const 256)
    "\01\01\00\01"
    "\02\02\00\26\02"
    "\03\1e\00deletion is disabled by policy")
  ;; 512: allow with max_bytes = 1048576
  (data (i32.const 512) "\05\08\00\00\00\10\00\00\00\00\00")
  ;; 768: subscriptions
  (data (i32.const 768) "DELE,STOR")

  (func (export "ftpp_abi_v1"))

  ;; the request buffer lives at 1024; requests over 32 KiB are refused
  (func (export "ftpp_alloc") (param $size i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $size) (i32.const 32768))
      (then (i32.const 0))
      (else (i32.const 1024))))

  (func (export "ftpp_check") (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $len i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        ;; stop when fewer than 3 header bytes remain
        (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 3)) (local.get $end)))
        (local.set $len (i32.load16_u offset=1 (local.get $p)))
        ;; tag 1 (verb) of length 4?
        (if (i32.and (i32.eq (i32.load8_u (local.get $p)) (i32.const 1))
                     (i32.eq (local.get $len) (i32.const 4)))
          (then
            ;; "DELE" read as a little-endian i32
            (if (i32.eq (i32.load offset=3 (local.get $p)) (i32.const 0x454C4544))
              (then (return (i64.const 0x000001000000002a))))  ;; ptr 256, len 42
            ;; "STOR"
            (if (i32.eq (i32.load offset=3 (local.get $p)) (i32.const 0x524F5453))
              (then (return (i64.const 0x000002000000000b))))  ;; ptr 512, len 11
            (return (i64.const 0))))                           ;; other verb: allow
        ;; skip this field: 3 header bytes + its value
        (local.set $p (i32.add (i32.add (local.get $p) (i32.const 3)) (local.get $len)))
        (br $next)))
    (i64.const 0))

  (func (export "ftpp_subscriptions") (result i64)
    (i64.const 0x0000030000000009)))                           ;; ptr 768, len 9
