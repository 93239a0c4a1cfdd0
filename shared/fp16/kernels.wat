;; fp16 kernels in WebAssembly SIMD (128-bit), for the reduction's hot loops. They compute exactly
;; what the scalar code in fp16.ts computes, eight values at a time:
;;   accumulate_halves: sum[i] = fl32((first ? 0 : sum[i]) + w · half(src[i])), with the product and
;;                      the sum in float64 (as JavaScript does), counting NaN/Inf halves;
;;   encode_halves:     dst[i] = the half nearest to sum[i] (ties to even; overflow to ±Inf; NaN
;;                      stays NaN, quiet), the float-to-half conversion of F. Giesen's
;;                      "float_to_half_fast3_rtne", done lane-wise; returns how many came out
;;                      Inf or NaN.
;; Counts are multiples of 8; the caller does the rest with the scalar code. Pointers are byte
;; offsets into this module's memory, which the caller grows and fills.

(module
  (memory (export "memory") 1)

  ;; Four halves (the low bits of each i32 lane) → their float32 bit patterns.
  (func $decode4 (param $h v128) (result v128)
    (local $em v128)
    (local $magnitude v128)
    (local.set $em (v128.and (local.get $h) (i32x4.splat (i32.const 0x7fff))))
    ;; normal and subnormal halves: the bits moved into float32 place, scaled by 2^112 (exact)
    (local.set $magnitude
      (f32x4.mul (i32x4.shl (local.get $em) (i32.const 13)) (f32x4.splat (f32.const 0x1p112))))
    (v128.or
      (v128.bitselect
        ;; Inf and NaN: all-ones exponent, the mantissa kept
        (v128.or (i32x4.shl (local.get $em) (i32.const 13)) (i32x4.splat (i32.const 0x7f800000)))
        (local.get $magnitude)
        (i32x4.ge_u (local.get $em) (i32x4.splat (i32.const 0x7c00))))
      (i32x4.shl (v128.and (local.get $h) (i32x4.splat (i32.const 0x8000))) (i32.const 16))))

  ;; sum[i] (+)= w · half(src[i]) for 4 lanes, in float64; returns the new float32 sums.
  (func $accumulate4 (param $sum v128) (param $f v128) (param $w f64) (param $first i32) (result v128)
    (local $wv v128)
    (local $lo v128)
    (local $hi v128)
    (local.set $wv (f64x2.splat (local.get $w)))
    (local.set $lo (f64x2.mul (f64x2.promote_low_f32x4 (local.get $f)) (local.get $wv)))
    (local.set $hi (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $f) (local.get $f))) (local.get $wv)))
    (if (i32.eqz (local.get $first))
      (then
        (local.set $lo (f64x2.add (f64x2.promote_low_f32x4 (local.get $sum)) (local.get $lo)))
        (local.set $hi (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $sum) (local.get $sum))) (local.get $hi))))
      (else
        ;; 0 + x, as a sum that starts at zero computes it (turns -0 into +0)
        (local.set $lo (f64x2.add (f64x2.splat (f64.const 0)) (local.get $lo)))
        (local.set $hi (f64x2.add (f64x2.splat (f64.const 0)) (local.get $hi)))))
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (f32x4.demote_f64x2_zero (local.get $lo))
      (f32x4.demote_f64x2_zero (local.get $hi))))

  ;; Count of lanes (of a -1/0 mask) that are set, accumulated into $counts.
  (func $count (param $counts v128) (param $mask v128) (result v128)
    (i32x4.sub (local.get $counts) (local.get $mask)))

  (func (export "accumulate_halves") (param $sum i32) (param $src i32) (param $n i32) (param $w f64) (param $first i32) (result i32)
    (local $i i32)
    (local $halves v128)
    (local $lowHalves v128)
    (local $highHalves v128)
    (local $counts v128)
    (local.set $counts (v128.const i32x4 0 0 0 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $halves (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))))
        (local.set $lowHalves (i32x4.extend_low_i16x8_u (local.get $halves)))
        (local.set $highHalves (i32x4.extend_high_i16x8_u (local.get $halves)))
        (local.set $counts (call $count (local.get $counts)
          (i32x4.ge_u (v128.and (local.get $lowHalves) (i32x4.splat (i32.const 0x7c00))) (i32x4.splat (i32.const 0x7c00)))))
        (local.set $counts (call $count (local.get $counts)
          (i32x4.ge_u (v128.and (local.get $highHalves) (i32x4.splat (i32.const 0x7c00))) (i32x4.splat (i32.const 0x7c00)))))
        (v128.store (i32.add (local.get $sum) (i32.shl (local.get $i) (i32.const 2)))
          (call $accumulate4
            (v128.load (i32.add (local.get $sum) (i32.shl (local.get $i) (i32.const 2))))
            (call $decode4 (local.get $lowHalves)) (local.get $w) (local.get $first)))
        (v128.store (i32.add (i32.add (local.get $sum) (i32.shl (local.get $i) (i32.const 2))) (i32.const 16))
          (call $accumulate4
            (v128.load (i32.add (i32.add (local.get $sum) (i32.shl (local.get $i) (i32.const 2))) (i32.const 16)))
            (call $decode4 (local.get $highHalves)) (local.get $w) (local.get $first)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $counts)) (i32x4.extract_lane 1 (local.get $counts)))
      (i32.add (i32x4.extract_lane 2 (local.get $counts)) (i32x4.extract_lane 3 (local.get $counts)))))

  ;; Four float32 bit patterns → four halves (in the low bits of each lane), rounded to nearest even.
  (func $encode4 (param $x v128) (result v128)
    (local $sign v128)
    (local $f v128)
    (local $normal v128)
    (local $subnormal v128)
    (local $special v128)
    (local.set $sign (v128.and (local.get $x) (i32x4.splat (i32.const 0x80000000))))
    (local.set $f (v128.xor (local.get $x) (local.get $sign)))
    ;; |x| >= 2^16 (as float bits, with Inf and NaN above): Inf, or a quiet NaN
    (local.set $special
      (v128.bitselect (i32x4.splat (i32.const 0x7e00)) (i32x4.splat (i32.const 0x7c00))
        (i32x4.gt_u (local.get $f) (i32x4.splat (i32.const 0x7f800000)))))
    ;; |x| < 2^-14: a subnormal half or zero, rounded by a float add of the magic 0.5
    (local.set $subnormal
      (i32x4.sub
        (f32x4.add (local.get $f) (i32x4.splat (i32.const 0x3f000000)))
        (i32x4.splat (i32.const 0x3f000000))))
    ;; normal: rebias the exponent, add 0xfff plus the lowest kept mantissa bit (ties to even), shift
    (local.set $normal
      (i32x4.shr_u
        (i32x4.add
          (i32x4.add (local.get $f) (i32x4.splat (i32.const 0xc8000fff)))
          (v128.and (i32x4.shr_u (local.get $f) (i32.const 13)) (i32x4.splat (i32.const 1))))
        (i32.const 13)))
    (v128.or
      (v128.bitselect
        (local.get $special)
        (v128.bitselect (local.get $subnormal) (local.get $normal)
          (i32x4.lt_u (local.get $f) (i32x4.splat (i32.const 0x38800000))))
        (i32x4.ge_u (local.get $f) (i32x4.splat (i32.const 0x47800000))))
      (i32x4.shr_u (local.get $sign) (i32.const 16))))

  (func (export "encode_halves") (param $src i32) (param $dst i32) (param $n i32) (result i32)
    (local $i i32)
    (local $at i32)
    (local $low v128)
    (local $high v128)
    (local $counts v128)
    (local.set $counts (v128.const i32x4 0 0 0 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $low (call $encode4 (v128.load (local.get $at))))
        (local.set $high (call $encode4 (v128.load (i32.add (local.get $at) (i32.const 16)))))
        ;; halves that came out Inf or NaN (non-finite input, or overflow)
        (local.set $counts (call $count (local.get $counts)
          (i32x4.eq (v128.and (local.get $low) (i32x4.splat (i32.const 0x7c00))) (i32x4.splat (i32.const 0x7c00)))))
        (local.set $counts (call $count (local.get $counts)
          (i32x4.eq (v128.and (local.get $high) (i32x4.splat (i32.const 0x7c00))) (i32x4.splat (i32.const 0x7c00)))))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1)))
          (i16x8.narrow_i32x4_u (local.get $low) (local.get $high)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $counts)) (i32x4.extract_lane 1 (local.get $counts)))
      (i32.add (i32x4.extract_lane 2 (local.get $counts)) (i32x4.extract_lane 3 (local.get $counts))))))
