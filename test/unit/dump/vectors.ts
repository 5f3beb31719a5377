/**
 * Compressed pages made by the reference implementations, not by kdap: LZO1X-1 by liblzo2 2.10
 * (python3-lzo, lzo.compress(page, 1, False)) and zstd by zstd 1.5.4 (zstd -19 --no-check), of
 * the pages `pattern()` makes. Small enough to keep inline; the e2e tests read makedumpfile's.
 */
export function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0;
  const rnd = (): number => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  const text = Buffer.from('Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) ');
  for (let i = 0; i < size; i++) {
    const block = Math.floor(i / 1024) % 5;
    if (block === 0) out[i] = i % 1024 < 160 ? rnd() : text[(i * 7) % text.length];
    else if (block === 1) out[i] = text[i % text.length];
    else if (block === 2) out[i] = 0;
    else if (block === 3) out[i] = out[i - 3 * 1024 + 7] ?? 0;
    else out[i] = i & 0x40 ? (i * 31) & 0xff : out[Math.max(0, i - 2300)];
  }
  // A far copy, beyond 16 KiB, for pages that big.
  if (size >= 65536) out.set(out.subarray(100, 4200), 40000);
  return out;
}

export const LZO_4K = Buffer.from(
  `AAAtxn6Ba0v74vtU9r3ffBzhhwG/Md5Wcg9HZ2aHWaqIPFnqVhN70oWh2DxUVS83rmVb2gJ5mMzjGnaOX9mZjx8/Nu5DeE0N+r6m
   2uSGjtwpbU7/VuFwIPuPsVgFkMUJ3FPNqjtImVLTUp0Gn+q1wgYTmEmyAR6sMogxnFJGlXE2j1f2OR0W+oh09Zh8F1xBu21xjg9w
   WccBGy8zPZHAHaUNDTZpbnRhIHYgNWQgbmwuLmlyLi1hZGtsZXJ1aS5sZGJyc2kpIG4tdTRhZXNuTGU2MC0oLUBkb25zMWNtZWVp
   Ymd4bzBvNmludGEgdiA1ZCBubC4uaXIuLWFka2xlcnVpLmxkYnJzaSkgbi11NGFlc25MZTYwLSgtQGRvbnMxY21lZWliZ3hvMG82
   aW50YSB2IDVkIG5sLi5pci4tYWRrIAAAoxwCACJ4IHZlcnNpb24gNi4xLjAtNTAtY2xvdWQtYW1kNjQgKGRlYmlhbi1rZXJuZWxA
   bGlzdHMurAIHLm9yZykgTGludSAAAACeDQEAIAAAAOEAACAAAADO4C8AAiBuLXU0YWVzbkxlNjB4IHZlcnNpEQAA`.replace(/\s+/g, ''),
  'base64',
);
export const LZO_64K = Buffer.from(
  `AAAtjCH/cu3XGNlOE5UT3Btj/JMG9r+c5QbgbbAKBZ/ydYeONLO8syviAsChUYyAI7nsbW89ZA6cI+wXB1ADPwGFNt86XHFP7AAJ
   AMevhVmg8TBT2JVf041wgsqD1e0P0dNk90sxaLqzK0SFnunWXijDHrxXN4jiUKb5/zzRnAf3F2lPf2x66xcZDcc+NliIU+cQIAVZ
   uDN8e6otSX3mIA4JnjZpbnRhIHYgNWQgbmwuLmlyLi1hZGtsZXJ1aS5sZGJyc2kpIG4tdTRhZXNuTGU2MC0oLUBkb25zMWNtZWVp
   Ymd4bzBvNmludGEgdiA1ZCBubC4uaXIuLWFka2xlcnVpLmxkYnJzaSkgbi11NGFlc25MZTYwLSgtQGRvbnMxY21lZWliZ3hvMG82
   aW50YSB2IDVkIG5sLi5pci4tYWRrIAAAoxwCACJ4IHZlcnNpb24gNi4xLjAtNTAtY2xvdWQtYW1kNjQgKGRlYmlhbi1rZXJuZWxA
   bGlzdHMurAIHLm9yZykgTGludSAAAACeDQEAIAAAAOEAACAAAADi4C8gH5wvAC7A3/4dPFt6mbjX9hU0U3KRsM/uDSxLaomox+YF
   JENigaC/3v0cO1p5mLfW9RQzUnGQr87tDCtKaYinxuUEI0JhIB+8MQAuQF9+nbzb+hk4V3aVtNPyETBPbo2sy+oJKEdmhaTD4gEg
   P159nLva+Rg3VnWUs9LxEC9ObYyryukIJ0ZlhKPC4SAf+CMgH/wDIB/8ASAAACH8AwCkXu1Efdqxg7s/v83izrsVXfj5NMW/qqjr
   zcMPpVGsYVmdrvBLgRkhpmU46Ewo9gVdvEwAiX1y5RZWwcCwkmrX9IPZqrvV56smr8K9bo+cbmniFvXbZmvqgkBdx9/d4CPGiYeo
   pdCy2ZSYdYYg+kcK1+VvS5NxLm+HBK1eCyel/Ccm0CPhaRNjR5VoeTtijZABOm45iZdTLH0aybwLalIcb2RrbGVydWkubGRicnNp
   KSBuLXU0YWUgAADTnE4gN1xbIAAAAM6sTzKcXyAf/CkgAAAAovwAIAAAAOLgLyAfTH8gH/xLIB9sgSAAACH8SyAf/CogH/wLIB/8
   ASAf/AsApNLMVEeZoQGWILTPlb4Htz5cLPmWz3HZvfjLGbadfjn3BpJxsFf2atyxccAIB0w55sDBwpERIi2eGcmt5rnDDRY5O7Pz
   nKhYbr+2hGs09cxR4ETMUlb74nfy269ztrdOJOTfUuhfT4KlwpxUlz2aKtg0zk6xlpevov0bWTOK8rZ5fpWGZ5mFn9ozO2ZiG9MJ
   0TN3gobIjEt3sp/hAC8O+21hZXNuTGU2MC0oLUBkb25zMWNtZWVpIAAAAARcnyAHvFAgAAAAulyfMqxPMqx/IB/8ISAAAACi/AAg
   AAAA4uAvIB/8ziAf/kNhbiAdHNEgH/xDIB/8IiAf/AMgH/wBIAAAIfwDAJiAdodIQeBpZImq8qbGNyKWVVaeqeRzcEyIgIGwnaHW
   WGGajWRP+ZabPQIyOjRfLX4ThNvz4uTUe/fVbx3LRP+TmhjQkrxn4NfGW132YOLj4uQZcju8djBbeLfkHrGOLnWiCYiqf8P9cJzN
   q7I/WvoYQSyZWWfCPUOCPhiMSBgbVvGF7ISRpaa/OG9URstdK3qh1okl3V+xjo6CRD2Ien6OZWliZ3hvMG82aSAAALf87SAHnk5k
   ayA1rPkgAAAApgzvIAesTzKsfyAf/CkgAAAAovwAIAAAAOLgLyAf/O0gH/xLEDfgISAAACH8SyAf/CogH/wLIB/8ASAg/AsAjaM2
   +OmklBsSWo+L/IMuX3wvencV50WRE5qeC2dLD3ZGfZ3fgFp93KGllljJZrofS0+kKAjwsaaKn1/N4CWGZDwoWA9NXBpaXWqfhSqc
   iRKGTT8PrhKtI2qov1vonZuyWb+hYklFI+2/v+TqGL1SkKRCgwT95/FiK8/2jXlOBrcVWK6va6tQ7j68m1+LY83yHUWo3+8FNbpG
   Kjw8i85+yxAAAMWwPSBfrU9hEAqQTBAAAADu0D8qvFAgH/whIAAAAKL8ACAAAADi4C8gH/ztIB/8QxA3kHEgIPxDIB4AIyAf/AMg
   HvkBACAAACH8AwCS6Qy4zqsnWbNTev69eSSxjmpv5nh8BTGEM9HIPhW2vUZN8/iYAlH1lnUSQ9vdmbi+Ath1qJt+nRZo3tRtD555
   gbgkpONnwN7uHJmjkKxZmNlemIxGRQkxymBnl6ByHWzTorj1idMNyxTBKla34P0LOPXGZSlwPqT3kIVIrzXMTJSExyNhPdB0Xtzb
   lCVxHccxP3s2Kxe1sPVyTyFzUUPTHHNpKSAQAAAAStE/NhACQJwUMI8QAAAA1ICPKqxPMqx/IB/8KSAAAACi/AAgAAAA4uAvIB/8
   7SAf/EsQN0DBIAAAIfxLIB/8KiAf/AsgH/wBIB/8CwCS1WhmQ52gkCbjxJWzVlGFHrXPOSQwBQscft5Ywr0Zt8MOtPYI7BbZwlH/
   kTqHMP5Wztmk6rPHb8QrSid2cuex4abDC4YiygWMm6LAkf1T6DEDsrFXmZKSRvGqxGZnRXnPFazdlzZTztw7xlqQr1H8B8tylkLZ
   AC75SRdoapTLx+TUiKQSIErqCKmClw+WxPIxnzGMg2un+TWqqUxa8hBTeGRvbnMQAAAAStA/KizxJPxPEDUQDiAAAACeDAEgH/wh
   IAAAAKL8ACAAAADi4C8gH/ztIB/8Qxg38BAgH/xDIB/8IiAf/AMgH/wBIAAAIfwDAJ5bb5fP2UcSalzwruapQoIF9gbM8kgfrFKN
   eKYPeazV4yB48KZY4v5YzCXZ7uBjZN1JCoxnaAL/qGmbr18fOQV+nrzmcJayZixyPE/+NMFQEA9UBbvB5quQtyufJN9Nm59KU7AE
   ilADPcZLR+6d8v72wP1vxU5jZmHuQK41roFPoJ9ViDksU4vkPmv7lhKOJujVHQJdBBPpcobxFGuGbdnYYSB2IDVkIG5sLi5pci4t
   YSrtQnMYAAD04C4gJyzxPnyQIB98wCRsUCAAAAB8fKEgH/wpIAAAAKL8ACAAAADi4C8gH/3tuhgAAAAAAAAAAAAAAAAAAAAACnBv
   AENQa9uobxg14OrXO1GfSKF/VPFtqTvaZsdH5zpCMfhydknCFuj9ax9HKuihJCYXtXGKmyi7wHvlJ1B5Ii7pNE0YMv21OU55+e4x
   +zFXpp7e0Rwlkjo0GAAAAFbUXxIEIB00ACAf/O0gH/ybGDcAEiAAACH8myAf/HogH/wLIB/8ASAf/AsAkpRe5AuKAFVHZcnF4xRQ
   Vbu62Q/WCIKhd1cz2eKIQ+DvnOs2UBJrcaEE/rU0AH/ymqfX4PIILrzxus3AtbvVY0kLolX3CPw4UYgEIP642clFuA2bW/LLXm0+
   xL1rt958mlubedllS2SuavI+GDX3khNjkXbrv/FBQVsvCd5z9+M7AfDazB/wqxAh4EdabnAGXSN8q3lmORvHiijd5ue3UINMZTYw
   ICevk2RvbhgAAAALYNAQC1DQGDdQABAAAACmUOEgH/whIAAAAI78AADgAAAAAAAAAAAAAAAAAAAAAAAAAABHZcnF4xRQVbu62Q/W
   CIKhd1cz2eKIQ+DvnOs2UBJrcaEE/rU0AH/ymqfX4PIILrzxus3AtbvVY0kLolX3CPw4UYgEIP642clFuA2bW/LLXm0+xL1rt958
   mlubedllS2SuavI+GDX3khNjkXbrv/FBQVsvCd5z9+M7AfDazB/wqxAh4EdabnAGXSN8q3lmORvHiijd5ue3UINMZTYwLSgtQGRv
   bnMxY21lZWliZ3hvMG82aW50YSB2IDVkIG5sLi5pci4tYWRrbGVydWkubGRicnNpKSBuLXU0YWVzbkwgAAD8DAEAImxAbGlzdHN4
   IHZlcnNpb24gNi4xLjAtNTAtY2xvdWQtYW1kNjQgKGRlYmlhbi1rZXJuZWyqBi5kjAIANC5vcmcpIMDf/h08W3qZuNf2FTRTcpGw
   z+4NLEtqiajH5gUkQ2KBoL/e/Rw7WnmYt9b1FDNScZCvzu0MK0ppiKfG5QQjQmFsCAFMaW51IBccAgAxQF9+nbzb+hk4V3aVtNPy
   ETBPbo2sy+oJKEdmhaTD4gEgP159nLva+Rg3VnWUs9LxEC9ObYyryukIJ0ZlhKPC4QAAACAcCAAgH/wDIBzzAQAAACAAACH8AwCq
   d7ewqjGCx9Al6HKcXN7beW3lcN3fO6VWQsRvWQy3e8o0CTJKkJluRO8g+bf218rBu+X+7yOPmEb8HvgQ2Y8caLH9moU3z1nG96ET
   gTXzi4uFlI2HKsyq7y9MsORH1uu2ZaweMRu6QK20g/fUEMzWMUIJVX7ri5SqVGfPrE0moArJLvgoNvPbUZ7d34d/+GILal6Oq15k
   Ds7ih41A5BXzvnhvMG82aW50YSB2IDVkIG5sLi5pci4tYWRrbGUgAAAAEsgfM7wMIBruHWFuJAwgIBv8HiAAAABiDAEgH/wpIAAA
   AKL8ACAAAADi4C8gC6xPMpwvIB/8SyATzFEqHAIgAAAh/EsgH/wqIB/8CyAf/AEgH/wLAKRUm15BgBLiCy7IAXJ7D+lvdqhw5Xzu
   0LNRwyJ4AzucKX8KilTwrg0x21uXbfurIrfdAjMHPMOSsRo0xi2jMVKjwZSyOX5gFB0esNdR+GLEORiCD+aWeAwgtPKxNbuPz4SS
   UBDII7+vJm7d+vVpzYlPnkE7W4Oo9VmYFBpqQ+3JJWtY2trWZZakQ/s4MUeDJ1DoV/E/++kHsj2zO6M04vrdci4tYWRrbGVydWku
   bGRicnNpKSBuLSAAAAAEeG8zrE8xOHwgD7xvKuwdIBfMcCAAAABuDAEgH/whIAAAAKL8ACAAAADi4S9lNVyfIAeMLiAf/EMkLaEt
   N3yhPhwCIB/8QyAf/CIgH/wDIB/8ASAAACH8AwDbxMJJRpDoge8WIcndiR1YlW3baGn11PmFHOdLuIUHGAQTppXkSOAnX19o5tEn
   M9J0pubXsWkAgimsx4GCL/Td8tMe9oz350JNlOjF5RpdT0cJkHjvUAZc9mZsF9cpQP//eUCkFpSTiBAwuJ/yWjKFZRHwgfyhfj5F
   we5DkWyEN4N/JNdbF3yzAKjxq8/eSy0mNB8sr1UA32w1ZT6H71g9124tdTRhZXNuTGU2MC0oLUBkb25zMWNtZWVpYmd4bzBvNmlu
   dGEgdiA1ZCBubC4uaXIuLWFka2xlcnVpLmxkYnJzaSkgbi11NGFlc25MMfxDIAAA4Q0BYTlsvz7tHTYgAnzAIAAAAIIMASAf/Ckg
   AAAAovwAIAAAAM7gLwACdGEgdiA1ZCBubC4uaWFuLWtlcm4RAAA=`.replace(/\s+/g, ''),
  'base64',
);
export const ZSTD_4K = Buffer.from(
  `KLUv/QBo1QkABBLGfoFrS/vi+1T2vd98HOGHAb8x3lZyD0dnZodZqog8WepWE3vShaHYPFRVLzeuZVvaAnmYzOMado5f2ZmPHz82
   7kN4TQ36vqba5IaO3CltTv9W4XAg+4+xWAWQxQncU82qO0iZUtNSnQaf6rXCBhOYSbIBHqwyiDGcUkaVcTaPV/Y5HRb6iHT1mHwX
   XEG7bXGOD3BZxwEbLzM9kcAdpQ0NNmludGEgdiA1ZCBubC4uaXIuLWFka2xlcnVpLmxkYnJzaSkgbi11NGFlc25MZTYwLSgtQGRv
   bnMxY21lZWliZ3hvMG94IHZlb24gNi4xLjAtNTAtY2xvdWQtYW1kNjQgKGRlYmlhbi1rZXJuZWxAbGlzdHMuLm9yZykgTGludQAG
   AP35Byvgj6tu7rei3hwKDpDJGY8KSwE=`.replace(/\s+/g, ''),
  'base64',
);
export const ZSTD_64K = Buffer.from(
  `KLUv/QBo/VEAZI2MIf9y7dcY2U4TlRPcG2P8kwb2v5zlBuBtsAoFn/J1h440s7yzK+ICwKFRjIAjuextbz1kDpwj7BcHUAM/AYU2
   3zpccU/sAAkAx6+FWaDxMFPYlV/TjXCCyoPV7Q/R02T3SzFourMrRIWe6dZeKMMevFc3iOJQpvn/PNGcB/cXaU9/bHrrFxkNxz42
   WIhT5xAgBVm4M3x7qi1JfeYgDgmeNmludGEgdiA1ZCBubC4uaXIuLWFka2xlcnVpLmxkYnJzaSkgbi11NGFlc25MZTYwLSgtQGRv
   bnMxY21lZWliZ3hvMG94IHZlb24gNi4xLjAtNTAtY2xvdWQtYW1kNjQgKGRlYmlhbi1rZXJuZWxAbGlzdHMuLm9yZykgTGludQDA
   3/4dPFt6mbjX9hU0U3KRsM/uDSxLaomox+YFJENigaC/3v0cO1p5mLfW9RQzUnGQr87tDCtKaYinxuUEI0JhQF9+nbzb+hk4V3aV
   tNPyETBPbo2sy+oJKEdmhaTD4gEgP159nLva+Rg3VnWUs9LxEC9ObYyryukIJ0ZlhKPC4QBe7UR92rGDuz+/zeLOuxVd+Pk0xb+q
   qOvNww+lUaxhWZ2u8EuBGSGmZTjoTCj2BV28TACJfXLlFlbBwLCSatf0g9mqu9Xnqyavwr1uj5xuaeIW9dtma+qCQF3H393gI8aJ
   h6il0LLZlJh1hiD6RwrX5W9Lk3Eub4cErV4LJ6X8JybQI+FpE2NHlWh5O2KNkAE6bjmJl1MsfRrJvAtqUhxv0sxUR5mhAZYgtM+V
   vge3Plws+ZbPcdm9+MsZtp1+OfcGknGwV/Zq3LFxwAgHTDnmwMHCkREiLZ4Zya3mucMNFjk7s/OcqFhuv7aEazT1zFHgRMxSVvvi
   d/Lbr3O2t04k5N9S6F9PgqXCnFSXPZoq2DTOTrGWl6+i/RtZM4rytnl+lYZnmYWf2jM7ZmIb0wnRM3eChsiMS3eyn+EALw77bYB2
   h0hB4GlkiarypsY3IpZVVp6p5HNwTIiAgbCdodZYYZqNZE/5lps9AjI6NF8tfhOE2/Pi5NR799VvHctE/5OaGNCSvGfg18ZbXfZg
   4uPi5BlyO7x2MFt4t+QesY4udaIJiKp/w/1wnM2rsj9a+hhBLJlZZ8I9Q4I+GIxIGBtW8YXshJGlpr84b1RGy10reqHWiSXdX7GO
   joJEPYh6fo4Aozb46aSUGxJaj4v8gy5ffC96dxXnRZETmp4LZ0sPdkZ9nd+AWn3coaWWWMlmuh9LT6QoCPCxpoqfX83gJYZkPChY
   D01cGlpdap+FKpyJEoZNPw+uEq0jaqi/W+idm7JZv6FiSUUj7b+/5OoYvVKQpEKDBP3n8WIrz/aNeU4GtxVYrq9rq1DuPrybX4tj
   zfIdRajf7wU1ukYqPDyLzn7L6Qy4zqsnWbNTev69eSSxjmpv5nh8BTGEM9HIPhW2vUZN8/iYAlH1lnUSQ9vdmbi+Ath1qJt+nRZo
   3tRtD555gbgkpONnwN7uHJmjkKxZmNlemIxGRQkxymBnl6ByHWzTorj1idMNyxTBKla34P0LOPXGZSlwPqT3kIVIrzXMTJSExyNh
   PdB0XtzblCVxHccxP3s2Kxe1sPVyTyFzUUPTHNVoZkOdoJAm48SVs1ZRhR61zzkkMAULHH7eWMK9GbfDDrT2COwW2cJR/5E6hzD+
   Vs7ZpOqzx2/EK0ondnLnseGmwwuGIsoFjJuiwJH9U+gxA7KxV5mSkkbxqsRmZ0V5zxWs3Zc2U87cO8ZakK9R/AfLcpZC2QAu+UkX
   aGqUy8fk1IikEiBK6gipgpcPlsTyMZ8xjINrp/k1qqlMWvIQU3hbb5fP2UcSalzwruapQoIF9gbM8kgfrFKNeKYPeazV4yB48KZY
   4v5YzCXZ7uBjZN1JCoxnaAL/qGmbr18fOQV+nrzmcJayZixyPE/+NMFQEA9UBbvB5quQtyufJN9Nm59KU7AEilADPcZLR+6d8v72
   wP1vxU5jZmHuQK41roFPoJ9ViDksU4vkPmv7lhKOJujVHQJdBBPpcobxFGuGbdnYUGvbqG8YNeDq1ztRn0ihf1Txbak72mbHR+c6
   QjH4cnZJwhbo/WsfRyrooSQmF7Vxipsou8B75SdQeSIu6TRNGDL9tTlOefnuMfsxV6ae3tEcJZI6NJRe5AuKAFVHZcnF4xRQVbu6
   2Q/WCIKhd1cz2eKIQ+DvnOs2UBJrcaEE/rU0AH/ymqfX4PIILrzxus3AtbvVY0kLolX3CPw4UYgEIP642clFuA2bW/LLXm0+xL1r
   t958mlubedllS2SuavI+GDX3khNjkXbrv/FBQVsvCd5z9+M7AfDazB/wqxAh4EdabnAGXSN8q3lmORvHiijd5ue3UIN3t7CqMYLH
   0CXocpxc3tt5beVw3d87pVZCxG9ZDLd7yjQJMkqQmW5E7yD5t/bXysG75f7vI4+YRvwe+BDZjxxosf2ahTfPWcb3oROBNfOLi4WU
   jYcqzKrvL0yw5EfW67ZlrB4xG7pArbSD99QQzNYxQglVfuuLlKpUZ8+sTSagCsku+Cg289tRnt3fh3/4YgtqXo6rXmQOzuKHjUDk
   FfO+VJteQYAS4gsuyAFyew/pb3aocOV87tCzUcMieAM7nCl/CopU8K4NMdtbl237qyK33QIzBzzDkrEaNMYtozFSo8GUsjl+YBQd
   HrDXUfhixDkYgg/mlngMILTysTW7j8+EklAQyCO/ryZu3fr1ac2JT55BO1uDqPVZmBQaakPtySVrWNra1mWWpEP7ODFHgydQ6Ffx
   P/vpB7I9szujNOL63cTCSUaQ6IHvFiHJ3YkdWJVt22hp9dT5hRznS7iFBxgEE6aV5EjgJ19faObRJzPSdKbm17FpAIIprMeBgi/0
   3fLTHvaM9+dCTZToxeUaXU9HCZB471AGXPZmbBfXKUD//3lApBaUk4gQMLif8loyhWUR8IH8oX4+RcHuQ5FshDeDfyTXWxd8swCo
   8avP3kstJjQfLK9VAN9sNWU+h+9YPdeAhKhRS1JO+VXYAbBEAglIJCKjAyIgBAiEYAiBRCARKAQPEUQEGAGCEJAK1zv9+Ud49tHT
   jtwhAJTz+534HGAE0YGQO+ihP//gbz9Ze7wOGaCm89vsOYCsogPxHXTdn3+g9Z7eG9VDFtRx+JiDDtDO8GzL9Am2/vzz/ge4MFj6
   9UwwhwyqKb7eU5s8gIqDXuo+h4RVUfJV3r34vcmgzR9xn6Dpzz/c5n+dH9lDBCjr/6I91clyB/315x/vAhig2q7kz/eehwVUU3yV
   zwFkwg5E6KBjf/75efdy3Ws41oJ6jo+z5wBFOkxMByLqE2T9+deg+NaK33OsBkW9f5aeA4h2ePYOxOwT7P35p2zwZwQ/3kSPCVBN
   8d3nUa2sg/7684/4H0ASWn37mHtYQDXFV3oOUDc7EKfXH/vzj0/p56fHxqGCkr6P9nB1AHfgzAPmBMq6Pt6ff/7Nn57P3YCkHmX2
   SI6c8XgIKg==`.replace(/\s+/g, ''),
  'base64',
);
