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
;; The loop bodies are written out in full, with no calls and no branch on `first`: V8 (Node 20)
;; does not inline WebAssembly calls, and a call that passes and returns v128 values per group of
;; four cost about half the time (1.87 ms per million halves accumulated with the calls, 0.91
;; without).

(module
  (memory (export "memory") 1)

  (func (export "accumulate_halves") (param $sum i32) (param $src i32) (param $n i32) (param $w f64) (param $first i32) (result i32)
    (local $i i32)
    (local $at i32)
    (local $halves v128)
    (local $h v128)
    (local $em v128)
    (local $bits v128)
    (local $special v128)
    (local $f v128)
    (local $s v128)
    (local $wv v128)
    (local $keep v128)
    (local $counts v128)
    (local $lo v128)
    (local $hi v128)
    (local.set $counts (v128.const i32x4 0 0 0 0))
    (local.set $wv (f64x2.splat (local.get $w)))
    ;; all ones: add to the sum so far; all zeros (the first member): add to +0, as a sum that
    ;; starts at zero does (it turns -0 into +0)
    (local.set $keep (i32x4.splat (i32.sub (i32.const 0) (i32.eqz (local.get $first)))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $halves (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))))
        (local.set $at (i32.add (local.get $sum) (i32.shl (local.get $i) (i32.const 2))))

        ;; lanes 0-3. Decode: normal and subnormal halves are their bits moved into float32 place
        ;; and scaled by 2^112 (exact); Inf and NaN get the all-ones exponent, mantissa kept.
        (local.set $h (i32x4.extend_low_i16x8_u (local.get $halves)))
        (local.set $em (v128.and (local.get $h) (i32x4.splat (i32.const 0x7fff))))
        (local.set $bits (i32x4.shl (local.get $em) (i32.const 13)))
        (local.set $special (i32x4.ge_u (local.get $em) (i32x4.splat (i32.const 0x7c00))))
        (local.set $counts (i32x4.sub (local.get $counts) (local.get $special)))
        (local.set $f
          (v128.or
            (v128.bitselect
              (v128.or (local.get $bits) (i32x4.splat (i32.const 0x7f800000)))
              (f32x4.mul (local.get $bits) (f32x4.splat (f32.const 0x1p112)))
              (local.get $special))
            (v128.and (i32x4.shl (local.get $h) (i32.const 16)) (i32x4.splat (i32.const 0x80000000)))))
        ;; sum (+)= w · half, the product and the sum in float64
        (local.set $s (v128.load (local.get $at)))
        (local.set $lo
          (f64x2.add
            (v128.and (f64x2.promote_low_f32x4 (local.get $s)) (local.get $keep))
            (f64x2.mul (f64x2.promote_low_f32x4 (local.get $f)) (local.get $wv))))
        (local.set $hi
          (f64x2.add
            (v128.and (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $s) (local.get $s))) (local.get $keep))
            (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $f) (local.get $f))) (local.get $wv))))
        (v128.store (local.get $at)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $lo))
            (f32x4.demote_f64x2_zero (local.get $hi))))

        ;; lanes 4-7, the same
        (local.set $h (i32x4.extend_high_i16x8_u (local.get $halves)))
        (local.set $em (v128.and (local.get $h) (i32x4.splat (i32.const 0x7fff))))
        (local.set $bits (i32x4.shl (local.get $em) (i32.const 13)))
        (local.set $special (i32x4.ge_u (local.get $em) (i32x4.splat (i32.const 0x7c00))))
        (local.set $counts (i32x4.sub (local.get $counts) (local.get $special)))
        (local.set $f
          (v128.or
            (v128.bitselect
              (v128.or (local.get $bits) (i32x4.splat (i32.const 0x7f800000)))
              (f32x4.mul (local.get $bits) (f32x4.splat (f32.const 0x1p112)))
              (local.get $special))
            (v128.and (i32x4.shl (local.get $h) (i32.const 16)) (i32x4.splat (i32.const 0x80000000)))))
        (local.set $s (v128.load offset=16 (local.get $at)))
        (local.set $lo
          (f64x2.add
            (v128.and (f64x2.promote_low_f32x4 (local.get $s)) (local.get $keep))
            (f64x2.mul (f64x2.promote_low_f32x4 (local.get $f)) (local.get $wv))))
        (local.set $hi
          (f64x2.add
            (v128.and (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $s) (local.get $s))) (local.get $keep))
            (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $f) (local.get $f))) (local.get $wv))))
        (v128.store offset=16 (local.get $at)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $lo))
            (f32x4.demote_f64x2_zero (local.get $hi))))

        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $counts)) (i32x4.extract_lane 1 (local.get $counts)))
      (i32.add (i32x4.extract_lane 2 (local.get $counts)) (i32x4.extract_lane 3 (local.get $counts)))))

  (func (export "encode_halves") (param $src i32) (param $dst i32) (param $n i32) (result i32)
    (local $i i32)
    (local $at i32)
    (local $x v128)
    (local $sign v128)
    (local $f v128)
    (local $low v128)
    (local $high v128)
    (local $counts v128)
    (local.set $counts (v128.const i32x4 0 0 0 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))

        ;; four float32 bit patterns → four halves (in the low bits of each lane), nearest even:
        ;; |x| >= 2^16 (Inf and NaN above it as float bits) → Inf, or a quiet NaN;
        ;; |x| < 2^-14 → a subnormal half or zero, rounded by a float add of the magic 0.5;
        ;; otherwise rebias the exponent, add 0xfff plus the lowest kept mantissa bit, shift.
        (local.set $x (v128.load (local.get $at)))
        (local.set $sign (v128.and (local.get $x) (i32x4.splat (i32.const 0x80000000))))
        (local.set $f (v128.xor (local.get $x) (local.get $sign)))
        (local.set $low
          (v128.or
            (v128.bitselect
              (v128.bitselect (i32x4.splat (i32.const 0x7e00)) (i32x4.splat (i32.const 0x7c00))
                (i32x4.gt_u (local.get $f) (i32x4.splat (i32.const 0x7f800000))))
              (v128.bitselect
                (i32x4.sub
                  (f32x4.add (local.get $f) (i32x4.splat (i32.const 0x3f000000)))
                  (i32x4.splat (i32.const 0x3f000000)))
                (i32x4.shr_u
                  (i32x4.add
                    (i32x4.add (local.get $f) (i32x4.splat (i32.const 0xc8000fff)))
                    (v128.and (i32x4.shr_u (local.get $f) (i32.const 13)) (i32x4.splat (i32.const 1))))
                  (i32.const 13))
                (i32x4.lt_u (local.get $f) (i32x4.splat (i32.const 0x38800000))))
              (i32x4.ge_u (local.get $f) (i32x4.splat (i32.const 0x47800000))))
            (i32x4.shr_u (local.get $sign) (i32.const 16))))

        (local.set $x (v128.load offset=16 (local.get $at)))
        (local.set $sign (v128.and (local.get $x) (i32x4.splat (i32.const 0x80000000))))
        (local.set $f (v128.xor (local.get $x) (local.get $sign)))
        (local.set $high
          (v128.or
            (v128.bitselect
              (v128.bitselect (i32x4.splat (i32.const 0x7e00)) (i32x4.splat (i32.const 0x7c00))
                (i32x4.gt_u (local.get $f) (i32x4.splat (i32.const 0x7f800000))))
              (v128.bitselect
                (i32x4.sub
                  (f32x4.add (local.get $f) (i32x4.splat (i32.const 0x3f000000)))
                  (i32x4.splat (i32.const 0x3f000000)))
                (i32x4.shr_u
                  (i32x4.add
                    (i32x4.add (local.get $f) (i32x4.splat (i32.const 0xc8000fff)))
                    (v128.and (i32x4.shr_u (local.get $f) (i32.const 13)) (i32x4.splat (i32.const 1))))
                  (i32.const 13))
                (i32x4.lt_u (local.get $f) (i32x4.splat (i32.const 0x38800000))))
              (i32x4.ge_u (local.get $f) (i32x4.splat (i32.const 0x47800000))))
            (i32x4.shr_u (local.get $sign) (i32.const 16))))

        ;; halves that came out Inf or NaN (non-finite input, or overflow)
        (local.set $counts (i32x4.sub (local.get $counts)
          (i32x4.eq (v128.and (local.get $low) (i32x4.splat (i32.const 0x7c00))) (i32x4.splat (i32.const 0x7c00)))))
        (local.set $counts (i32x4.sub (local.get $counts)
          (i32x4.eq (v128.and (local.get $high) (i32x4.splat (i32.const 0x7c00))) (i32x4.splat (i32.const 0x7c00)))))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1)))
          (i16x8.narrow_i32x4_u (local.get $low) (local.get $high)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $counts)) (i32x4.extract_lane 1 (local.get $counts)))
      (i32.add (i32x4.extract_lane 2 (local.get $counts)) (i32x4.extract_lane 3 (local.get $counts))))))
